"""One sync at a time per connection, on SQLite and PostgreSQL alike.

A lease is a token and an expiry written on the connection row by a
conditional UPDATE: whoever's UPDATE matched holds it. Holders renew it
between pages and re-check it before every commit, so a run whose lease was
taken over (it stalled past the expiry) or whose connection was deleted
(disconnect, R14) stops instead of writing.

The expiry is short (LEASE_DURATION): while a run works, a heartbeat thread
extends it (`sync/heartbeat.py`), so a long Retry-After wait or a long plan
never lets it lapse, while a worker lost with its machine or container frees
the connection within that short time.

The row also records who holds the lease: the run, and the process (host,
PID namespace, boot, pid and start time). A worker killed with SIGKILL (OOM
killer, a deploy) never releases its lease; on the same machine the next run
sees that the holder process is gone and takes the lease over at once, rather
than waiting for the expiry. A holder on another machine is judged by the
expiry alone.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeGuard

from django.db.models import Q
from django.utils import timezone

from integrations.models import AzureConnection

logger = logging.getLogger(__name__)

# How long a silent holder keeps the lease: its heartbeat renews it far more often.
LEASE_DURATION = timedelta(minutes=2)


class LeaseLost(Exception):
    """The lease expired and was taken, or the connection is gone."""


class Lease:
    """A held lease on one connection."""

    def __init__(self, connection_id: int, token: uuid.UUID) -> None:
        self.connection_id = connection_id
        self.token = token

    @classmethod
    def acquire(cls, connection_id: int, *, run_id: int | None = None) -> Lease | None:
        """Take the lease if it is free, expired or held by a dead process; None when a live run holds it."""
        now = timezone.now()
        token = uuid.uuid4()
        values = {
            "lease_token": token,
            "lease_expires_at": now + LEASE_DURATION,
            "lease_holder": {"run": run_id, **process_identity()},
        }
        rows = AzureConnection.objects.filter(pk=connection_id)
        if rows.filter(Q(lease_token__isnull=True) | Q(lease_expires_at__lt=now)).update(**values):
            return cls(connection_id, token)
        held = rows.values_list("lease_token", "lease_holder").first()
        if held is None or held[0] is None or not holder_is_gone(held[1]):
            return None
        # Compare-and-swap on the dead holder's token: of several takers, one wins.
        if not rows.filter(lease_token=held[0]).update(**values):
            return None
        logger.warning(
            "Connection %s: took over the sync lease of run %s, whose process %s is gone",
            connection_id,
            held[1].get("run"),
            held[1].get("pid"),
        )
        return cls(connection_id, token)

    def renew(self) -> None:
        """Extend the lease; raise LeaseLost if it is no longer ours.

        Inside a transaction this UPDATE also locks the connection row until
        commit, so the check and the writes it guards are atomic.
        """
        if not self.extend():
            raise LeaseLost("The connection was disconnected or another sync took over.")

    def extend(self) -> bool:
        """Push the expiry back if the lease is still ours; False when it is not."""
        extended = AzureConnection.objects.filter(pk=self.connection_id, lease_token=self.token).update(
            lease_expires_at=timezone.now() + LEASE_DURATION
        )
        return bool(extended)

    def release(self) -> None:
        AzureConnection.objects.filter(pk=self.connection_id, lease_token=self.token).update(
            lease_token=None, lease_expires_at=None, lease_holder=None
        )


def is_leased(connection: AzureConnection) -> bool:
    """Whether a live run holds the connection's lease (as far as this machine can tell)."""
    return bool(
        connection.lease_token
        and connection.lease_expires_at
        and connection.lease_expires_at > timezone.now()
        and not holder_is_gone(connection.lease_holder)
    )


def lease_run_id(connection: AzureConnection) -> int | None:
    """The run holding the connection's lease, when the holder says."""
    return holder_run_id(connection.lease_holder)


def holder_run_id(holder: object) -> int | None:
    """The run named by a lease holder record, if it names one."""
    run = holder.get("run") if isinstance(holder, dict) else None
    return run if isinstance(run, int) and not isinstance(run, bool) else None


# -- who holds it ----------------------------------------------------------------------
_PROC = Path("/proc")


def process_identity() -> dict[str, Any]:
    """This process, as another process on the same machine can check it is still alive."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "boot": _read(_PROC / "sys/kernel/random/boot_id"),
        "pid_ns": _pid_namespace(),
        "pid": pid,
        "start": _start_time(pid),
    }


def holder_is_gone(holder: object) -> TypeGuard[dict[str, Any]]:
    """True only when certain: the holder ran on this machine, in this PID namespace, and its
    process no longer exists (or is a zombie, or its pid now belongs to another process)."""
    if not isinstance(holder, dict):
        return False
    me = process_identity()
    if any(holder.get(key) != me[key] for key in ("host", "boot", "pid_ns")):
        return False  # another machine or container: only the expiry can tell
    pid, start = holder.get("pid"), holder.get("start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == me["pid"]:
        return bool(start != me["start"])  # our pid, but an earlier process's
    if not _pid_exists(pid):
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return False  # it exists and /proc does not show it (hidepid): assume it is alive
    state, current_start = stat
    return state in ("Z", "X", "x") or (start is not None and current_start != start)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, if /proc shows it."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of a process from /proc, or None when /proc does not show it."""
    stat = _read(_PROC / str(pid) / "stat")
    # Fields after the command name, which is in parentheses and may contain anything.
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20:
        return None
    try:
        return fields[0], int(fields[19])
    except ValueError:
        return None


def _pid_namespace() -> str:
    try:
        return os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return ""


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
