"""Item 3: concurrency, with real processes on PostgreSQL and on SQLite.

* N processes pressing Sync now and running the scheduler's dispatcher at the
  same moment on one connection queue exactly one run;
* a queued run handed to N workers at once (a task delivered twice) is
  executed exactly once, and while it runs no second run can be queued;
* N processes running a sync of one connection directly (the command line):
  one runs, the others are recorded as skipped;
* syncs of different connections run in parallel.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from integrations.models import AzureConnection, SyncRun
from integrations.services import runs
from integrations.sync.runner import run_sync
from integrations.tasks import dispatch_due_syncs, execute_run
from tests.reliability.figures import Stopwatch, count, record
from tests.reliability.helpers import client_factory, connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PARALLEL = 8
CONTOSO = "525b6c55-3da5-4253-a683-5aac155e4a8c"
FABRIKAM = "801200dd-397e-42a6-aee4-23cdb509ee77"
NORTHWIND = "0b5d176c-c411-4c9c-b094-f14d04ba574f"
LATENCY_MS = 25  # per Graph request, so that runs last long enough to overlap
# Where the test needs every process to start while another still runs: a run of
# a second or more, so that a process delayed by a loaded machine still overlaps.
OVERLAP_LATENCY_MS = 200
_fork = multiprocessing.get_context("fork")


def _in_processes(target, args_list: list[tuple]) -> list:
    """Run `target(barrier, results, *args)` in one forked process per args, released together."""
    connections.close_all()
    # A SimpleQueue writes synchronously: the children leave with os._exit, which a
    # Queue's feeder thread would not survive.
    barrier, results = _fork.Barrier(len(args_list)), _fork.SimpleQueue()
    processes = [_fork.Process(target=_child, args=(target, barrier, results, *args)) for args in args_list]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0, process.exitcode
    collected = []
    while not results.empty():
        collected.append(results.get())
    assert len(collected) == len(processes), collected
    errors = [item for item in collected if isinstance(item, str) and item.startswith("ERROR")]
    assert not errors, errors
    return collected


def _child(target, barrier, results, *args) -> None:
    try:
        connections.close_all()
        barrier.wait(timeout=60)
        results.put(target(*args))
    except BaseException as exc:  # report, never hang the parent
        results.put(f"ERROR {type(exc).__name__}: {exc}")
    finally:
        connections.close_all()
        os._exit(0)


def _press_start(connection_id: int, how: str):
    if how == "sync now":
        connection = AzureConnection.objects.select_related("customer").get(pk=connection_id)
        return ("sync now", runs.sync_now(connection=connection, requested_by=None).started)
    return ("scheduler", dispatch_due_syncs())


def _execute(run_id: int) -> str:
    from integrations.sync import runner

    runner.default_client_factory = client_factory(page_size=10)
    return execute_run(run_id)


def _sync_directly(connection_id: int) -> str:
    connection = AzureConnection.objects.get(pk=connection_id)
    return run_sync(
        connection, trigger=SyncRun.Trigger.COMMAND, client_factory=client_factory(page_size=10)
    ).status


def test_parallel_sync_now_and_scheduler_queue_one_run_which_runs_once(portal_on_simulator):
    rounds = count(3)
    sim = portal_on_simulator(users=[60, 5, 5])
    sim.apply("grant_consent", tenant=CONTOSO)
    connection = connect("Busy Ltd", CONTOSO, sim.state.directories[CONTOSO].spec.offices)
    clock = Stopwatch()
    presses = executions = 0

    for number in range(rounds):
        AzureConnection.objects.filter(pk=connection.pk).update(
            next_sync_at=timezone.now() - timedelta(minutes=1)
        )
        before = set(SyncRun.objects.values_list("pk", flat=True))
        hows = ["sync now" if n % 2 else "scheduler" for n in range(PARALLEL)]
        answers = _in_processes(_press_start, [(connection.pk, how) for how in hows])
        presses += len(answers)
        started = sum(int(value) for _, value in answers)
        new = SyncRun.objects.exclude(pk__in=before)
        assert (started, new.count()) == (1, 1), (number, answers)
        run = new.get()
        assert run.status == SyncRun.Status.QUEUED

        # The same run handed to N workers at once; meanwhile Sync now is pressed again and again.
        sim.set_knobs(latency_ms=LATENCY_MS)
        connections.close_all()
        workers = [_fork.Process(target=_child_execute, args=(run.pk,)) for _ in range(PARALLEL)]
        for worker in workers:
            worker.start()
        refused = 0
        while any(worker.is_alive() for worker in workers):
            answer = runs.sync_now(connection=connection, requested_by=None)
            if answer.started:
                assert _finished_before(run, answer.run), f"a second run was queued while run {run.pk} ran"
                answer.run.delete()
            else:
                assert answer.run.pk == run.pk
                refused += 1
            time.sleep(0.01)
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        sim.set_knobs(latency_ms=0)
        executions += PARALLEL
        run.refresh_from_db()
        assert run.status == SyncRun.Status.SUCCEEDED, (run.status, run.error)
        assert SyncRun.objects.exclude(pk__in=before).count() == 1
        assert refused > 0

    record(
        "concurrency_one_connection",
        rounds=rounds,
        parallel_starts=presses,
        runs_queued=rounds,
        parallel_executions=executions,
        runs_executed=rounds,
        duplicates=0,
        seconds=clock.seconds,
    )


def _child_execute(run_id: int) -> None:
    try:
        connections.close_all()
        _execute(run_id)
    finally:
        connections.close_all()
        os._exit(0)


def _finished_before(first: SyncRun, second: SyncRun) -> bool:
    first.refresh_from_db()
    return (
        first.finished_at is not None
        and first.status == SyncRun.Status.SUCCEEDED
        and (first.finished_at <= second.created_at)
    )


def test_parallel_direct_syncs_of_one_connection_run_once_and_the_rest_are_skipped(portal_on_simulator):
    sim = portal_on_simulator(users=[60, 5, 5])
    sim.apply("grant_consent", tenant=CONTOSO)
    connection = connect("Direct Ltd", CONTOSO, sim.state.directories[CONTOSO].spec.offices)
    sim.set_knobs(latency_ms=OVERLAP_LATENCY_MS)

    statuses = sorted(_in_processes(_sync_directly, [(connection.pk,)] * PARALLEL))

    assert statuses == ["skipped"] * (PARALLEL - 1) + ["succeeded"]
    connection.refresh_from_db()
    assert connection.lease_token is None and connection.lease_holder is None


def test_syncs_of_different_connections_run_in_parallel(portal_on_simulator):
    sim = portal_on_simulator(users=[120, 120, 120])
    tenants = (CONTOSO, FABRIKAM, NORTHWIND)
    linked = []
    for number, tenant in enumerate(tenants):
        sim.apply("grant_consent", tenant=tenant)
        linked.append(connect(f"Parallel {number}", tenant, sim.state.directories[tenant].spec.offices))
    sim.set_knobs(latency_ms=OVERLAP_LATENCY_MS // 2)
    clock = Stopwatch()

    statuses = _in_processes(_sync_directly, [(connection.pk,) for connection in linked])

    wall = clock.seconds
    assert statuses == ["succeeded"] * len(tenants)
    done = list(SyncRun.objects.filter(connection__in=linked))
    assert len(done) == len(tenants)
    latest_start = max(run.started_at for run in done)
    earliest_end = min(run.finished_at for run in done)
    assert latest_start < earliest_end, "the runs of different connections did not overlap"
    total = sum((run.finished_at - run.started_at).total_seconds() for run in done)
    record(
        "concurrency_many_connections",
        connections=len(tenants),
        all_overlapping=True,
        run_seconds_total=round(total, 1),
        wall_seconds=wall,
    )
