"""Keep a run's lease alive from a background thread while the run works.

The run itself renews its lease before every commit, but some stretches
commit nothing for a while: a Retry-After wait, the plan of a very large
tenant. The heartbeat covers them, which is what lets the lease be short: a
worker lost with its machine holds the connection for LEASE_DURATION only.

A heartbeat never outlives its run's time budget (the task timeout), so a
run stuck for good cannot keep its connection forever; and it never takes a
lease back: it only extends the token it was given, which stops matching the
moment the lease is released, taken over or its connection deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from django.conf import settings
from django.db import DatabaseError, connections

from integrations.sync import lease as leases
from integrations.sync.lease import Lease

logger = logging.getLogger(__name__)

# Beats per lease duration: a beat or two may fail (a database restart) before the lease lapses.
BEATS_PER_LEASE = 4


def beat_seconds() -> float:
    return leases.LEASE_DURATION.total_seconds() / BEATS_PER_LEASE


def run_time_budget() -> float:
    """Seconds a run may take: the worker's task timeout, after which django-q2 stops it."""
    return float(settings.Q_CLUSTER.get("timeout") or 3600)


class Heartbeat:
    """`with Heartbeat(lease):` extends the lease every `every` seconds until the block ends."""

    def __init__(self, lease: Lease, *, every: float | None = None, budget: float | None = None) -> None:
        self.lease = lease
        self.every = beat_seconds() if every is None else every
        self.budget = run_time_budget() if budget is None else budget
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{lease.connection_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
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
                if not self._beat():
                    return
        finally:
            connections.close_all()  # this thread's own connections

    def _beat(self) -> bool:
        """One renewal; False once the lease is no longer ours (nothing left to keep alive)."""
        try:
            extended = self.lease.extend()
        except DatabaseError:
            logger.warning(
                "Connection %s: could not renew the sync lease; retrying", self.lease.connection_id
            )
            connections.close_all()  # a broken connection is replaced at the next beat
            return True
        self.beats += extended
        return extended
