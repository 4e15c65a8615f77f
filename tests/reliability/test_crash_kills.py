"""Item 2: the worker process is killed (SIGKILL) at random points of the
fetch and of the apply, many times. After each kill a Sync now must start
at once (the dead worker's lease must not block the connection for its ten
minutes) and converge to exactly the state of a customer synced cleanly from
the same tenant: same contacts, same audit log.

The worker is a real process: a fork of the test that executes the queued run
like a django-q2 worker does (`tasks.execute_run`), reading the simulator
over HTTPS with small pages and the apply cut into small transactions, so
that a kill can land inside any of them.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest
from django.db import connections

from integrations.models import SyncRun
from integrations.services import runs
from integrations.sync.runner import run_sync
from integrations.tasks import execute_run
from tests.e2e.conftest import CONTOSO
from tests.reliability.figures import Stopwatch, count, record
from tests.reliability.helpers import REFERENCE_TENANT, audit_state, client_factory, connect, contact_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TENANT_USERS = 600
PAGE_SIZE = 20
APPLY_BATCH = 20
LATENCY_MS = 12  # per Graph request: widens the fetch so a kill can land in it
POLL_SECONDS = 0.002


def _worker(run_id: int) -> None:
    """The child: a worker executing one queued run, with small pages and small apply batches."""
    from integrations.sync import apply, runner

    apply.BATCH_SIZE = APPLY_BATCH
    runner.default_client_factory = client_factory(page_size=PAGE_SIZE)
    try:
        execute_run(run_id)
    finally:
        os._exit(0)  # never run the parent's (pytest's) exit handlers


def test_killed_workers_never_block_the_connection_and_the_next_run_converges(portal_on_simulator):
    kills_wanted = count(16)
    sim = portal_on_simulator(users=[TENANT_USERS, 5, 5])
    sim.apply("grant_consent", tenant=CONTOSO)
    offices = sim.state.directories[CONTOSO].spec.offices
    subject = connect("Crashy Ltd", CONTOSO, offices)
    reference = connect("Reference Ltd", REFERENCE_TENANT, offices)
    fork = multiprocessing.get_context("fork")
    clock = Stopwatch()
    landed: dict[str, int] = {}
    kills = converged = cycle = 0

    while kills < kills_wanted:
        assert cycle < 2 * kills_wanted, f"only {kills} of {cycle} workers died before they finished"
        rng = random.Random(f"kill-{cycle}")
        target = "fetching" if kills % 2 == 0 else "applying"
        if cycle:
            sim.apply("churn", tenant=CONTOSO, update=rng.randint(250, 400), add=5, remove=3, seed=cycle)
            if rng.random() < 0.2:
                sim.apply("expire_delta_links", tenant=CONTOSO)
        queued = runs.sync_now(connection=subject, requested_by=None)
        assert queued.started, queued.message

        sim.set_knobs(latency_ms=LATENCY_MS if target == "fetching" else 0)
        connections.close_all()
        worker = fork.Process(target=_worker, args=(queued.run.pk,))
        worker.start()
        phase = _kill_at_a_random_point(worker, queued.run.pk, target, rng)
        sim.set_knobs(latency_ms=0)
        if phase is not None:
            kills += 1
            landed[phase] = landed.get(phase, 0) + 1

        # Sync now, at once: the dead worker's lease and run must not stand in the way.
        recovery = runs.sync_now(connection=subject, requested_by=None)
        assert recovery.started, f"cycle {cycle}: after a kill in {phase}: {recovery.message}"
        assert execute_run(recovery.run.pk) == f"run {recovery.run.pk}: succeeded", _error(recovery.run)
        killed = SyncRun.objects.get(pk=queued.run.pk)
        assert killed.status in (SyncRun.Status.FAILED, SyncRun.Status.SUCCEEDED), killed.status
        if phase is not None:
            assert (killed.status, killed.error_kind) == (SyncRun.Status.FAILED, "abandoned"), killed.error

        clean = run_sync(
            reference,
            trigger=SyncRun.Trigger.SCHEDULED,
            client_factory=client_factory(CONTOSO, page_size=999),
        )
        assert clean.status == SyncRun.Status.SUCCEEDED, clean.error
        assert contact_state(subject.customer) == contact_state(reference.customer), f"cycle {cycle}"
        assert audit_state(subject.customer) == audit_state(reference.customer), f"cycle {cycle}"
        subject.refresh_from_db()
        assert subject.lease_token is None
        assert not SyncRun.objects.filter(connection=subject, status__in=SyncRun.ACTIVE_STATUSES).exists()
        converged += phase is not None
        cycle += 1

    assert landed.get("fetching", 0) and landed.get("applying", 0), landed
    record(
        "crash_kills",
        kills=kills,
        converged=converged,
        workers_started=cycle,
        landed_in=dict(sorted(landed.items())),
        tenant_users=TENANT_USERS,
        seconds=clock.seconds,
    )


def _kill_at_a_random_point(worker, run_id: int, target: str, rng: random.Random) -> str | None:
    """SIGKILL the worker at a random point of `target`; return the phase it died in, None if the
    run finished first."""
    goal = None
    deadline = time.monotonic() + 60
    try:
        while worker.is_alive() and time.monotonic() < deadline:
            state = SyncRun.objects.filter(pk=run_id).values("phase", "progress_done", "progress_total").get()
            if state["phase"] == target:
                if goal is None:
                    total = state["progress_total"] or TENANT_USERS // 2
                    goal = rng.randrange(0, max(total, 1))
                if state["progress_done"] >= goal:
                    # Somewhere inside the next page or batch, not only between them.
                    time.sleep(rng.uniform(0, 0.02))
                    os.kill(worker.pid, signal.SIGKILL)
                    break
            time.sleep(POLL_SECONDS)
    finally:
        worker.join(timeout=30)
        connections.close_all()
    if worker.exitcode != -signal.SIGKILL:
        return None
    run = SyncRun.objects.get(pk=run_id)
    if run.status != SyncRun.Status.RUNNING:
        return None  # the run was over: the kill hit the worker on its way out
    return run.phase or "between phases"


def _error(run: SyncRun) -> str:
    run.refresh_from_db()
    return f"{run.status}: {run.error}"
