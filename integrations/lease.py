"""One sync at a time per connection: a lease on the connection row, kept alive
by a heartbeat (docs/design.md §8, "One run per connection").

A lease is a token and an expiry written on the connection row by a
conditional UPDATE: whoever's UPDATE matched holds it. The holder re-checks it
before every commit (`renew`), so a run whose lease was taken over or whose
connection was deleted (disconnect, R14) stops instead of writing. The expiry
is short; a heartbeat thread extends it while the run works (a long
Retry-After, a long plan), so a worker lost with its machine frees the
connection within LEASE_DURATION.

The row also records the holder process (host, boot, PID namespace, pid, start
time): a worker killed with SIGKILL never releases its lease, and on the same
machine the next run sees its process is gone and takes over at once. A holder
on another machine is judged by the expiry alone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeGuard

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from integrations.models import AzureConnection

logger = logging.getLogger(__name__)

# How long a silent holder keeps the lease: its heartbeat renews it BEATS_PER_LEASE times as often,
# so a beat or two may fail (a database restart) before the lease lapses.
LEASE_DURATION = timedelta(minutes=2)
BEATS_PER_LEASE = 4


class LeaseLost(Exception):
    """The lease expired and was taken, or the connection is gone."""


class Lease:
    """A held lease on one connection."""

    def __init__(self, connection_id: int, token: uuid.UUID, *, took_over_run: int | None = None) -> None:
        self.connection_id = connection_id
        self.token = token
        self.took_over_run = took_over_run  # the run of a dead holder whose lease this one replaced

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
        return cls(connection_id, token, took_over_run=holder_run_id(held[1]))

    def renew(self, **values: Any) -> None:
        """Extend the lease (and write `values` on the connection row in the same UPDATE);
        raise LeaseLost if it is no longer ours.

        Inside a transaction this UPDATE also locks the connection row until
        commit, so the check and the writes it guards are atomic.
        """
        if not self.extend(**values):
            # A message id: a run stopped by it shows it in its reader's language.
            raise LeaseLost(gettext_noop("The connection was disconnected or another sync took over."))

    def extend(self, **values: Any) -> bool:
        """Push the expiry back (writing `values`) if the lease is still ours; False when it is not."""
        extended = AzureConnection.objects.filter(pk=self.connection_id, lease_token=self.token).update(
            lease_expires_at=timezone.now() + LEASE_DURATION, **values
        )
        return bool(extended)

    def release(self) -> None:
        AzureConnection.objects.filter(pk=self.connection_id, lease_token=self.token).update(
            lease_token=None, lease_expires_at=None, lease_holder=None
        )


class Heartbeat:
    """`with Heartbeat(lease):` extends the lease every `every` seconds until the block ends.

    It never outlives the run's time budget (the worker's task timeout), so a
    run stuck for good cannot keep its connection; and it never takes a lease
    back: the token it extends stops matching once the lease is released,
    taken over or its connection deleted.
    """

    def __init__(self, lease: Lease, *, every: float | None = None, budget: float | None = None) -> None:
        self.lease = lease
        self.every = LEASE_DURATION.total_seconds() / BEATS_PER_LEASE if every is None else every
        self.budget = float(settings.Q_CLUSTER.get("timeout") or 3600) if budget is None else budget
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{lease.connection_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        deadline = time.monotonic() + self.budget
        try:
            while not self._stop.wait(self.every):
                if time.monotonic() >= deadline:
                    logger.warning(
                        "Connection %s: the sync ran past its time budget; its lease is no longer renewed",
                        self.lease.connection_id,
                    )
                    return
                try:
                    extended = self.lease.extend()
                except DatabaseError:
                    logger.warning(
                        "Connection %s: could not renew the sync lease; retrying", self.lease.connection_id
                    )
                    connections.close_all()  # a broken connection is replaced at the next beat
                    continue
                if not extended:
                    return  # nothing left to keep alive
                self.beats += 1
        finally:
            connections.close_all()  # this thread's own connections


def is_leased(connection: AzureConnection) -> bool:
    """Whether a live run holds the connection's lease (as far as this machine can tell)."""
    return bool(
        connection.lease_token
        and connection.lease_expires_at
        and connection.lease_expires_at > timezone.now()
        and not holder_is_gone(connection.lease_holder)
    )


def holder_run_id(holder: object) -> int | None:
    """The run named by a lease holder record (`connection.lease_holder`), if it names one."""
    run = holder.get("run") if isinstance(holder, dict) else None
    return run if isinstance(run, int) and not isinstance(run, bool) else None


# -- who holds it ----------------------------------------------------------------------
_PROC = Path("/proc")
_identity: dict[str, Any] = {}  # this process's, computed once per pid (a fork has its own)


def process_identity() -> dict[str, Any]:
    """This process, as another process on the same machine can check it is still alive."""
    pid = os.getpid()
    if _identity.get("pid") != pid:
        try:
            pid_ns = os.readlink(_PROC / "self/ns/pid")
        except OSError:
            pid_ns = ""
        _identity.clear()
        _identity.update(
            host=socket.gethostname(),
            boot=_read(_PROC / "sys/kernel/random/boot_id"),
            pid_ns=pid_ns,
            pid=pid,
            start=(_proc_stat(pid) or ("", None))[1],
        )
    return dict(_identity)


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return False  # it exists and /proc does not show it (hidepid): assume it is alive
    state, current_start = stat
    return state in ("Z", "X", "x") or (start is not None and current_start != start)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, or None when /proc does not show it."""
    # Fields after the command name, which is in parentheses and may contain anything.
    fields = _read(_PROC / str(pid) / "stat").rpartition(")")[2].split()
    if len(fields) < 20:
        return None
    try:
        return fields[0], int(fields[19])
    except ValueError:
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
