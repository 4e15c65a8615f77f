"""The lease records who holds it, so that a killed worker's lease is taken over
at once on its machine, and never while its holder lives or when its machine
cannot be judged (the expiry decides there)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from integrations import lease
from integrations.lease import Lease, holder_is_gone, is_leased, process_identity
from integrations.models import AzureConnection, SyncRun
from integrations.services import runs
from integrations.sync.runner import run_sync
from tests.integrations.conftest import TENANT_ID
from tests.integrations.fakes import FakeDirectory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(customer) -> AzureConnection:
    return AzureConnection.objects.create(customer=customer, tenant_id=TENANT_ID)


def wait_until_zombie(pid: int, seconds: float = 30) -> None:
    """Waits for an unreaped child to exit: on a loaded machine that can take a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit within {seconds} s")


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def held_by(connection: AzureConnection, **holder) -> AzureConnection:
    taken = Lease.acquire(connection.pk, run_id=7)
    assert taken is not None
    AzureConnection.objects.filter(pk=connection.pk).update(
        lease_holder={**process_identity(), "run": 7, **holder}
    )
    connection.refresh_from_db()
    return connection


def test_a_lease_held_by_a_live_process_is_not_taken(connection):
    held_by(connection)  # this very process

    assert Lease.acquire(connection.pk) is None
    assert is_leased(connection)


def test_a_lease_held_by_a_dead_process_on_this_machine_is_taken_over_at_once(connection):
    held_by(connection, pid=dead_pid())

    assert not is_leased(connection)
    taken = Lease.acquire(connection.pk, run_id=8)

    assert taken is not None
    connection.refresh_from_db()
    assert connection.lease_token == taken.token and connection.lease_holder["run"] == 8


def test_a_zombie_holder_is_dead(connection):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        wait_until_zombie(pid)  # exited, not yet reaped
        assert holder_is_gone({**process_identity(), "pid": pid})
    finally:
        os.waitpid(pid, 0)


def test_a_reused_pid_does_not_keep_a_dead_holder_alive(connection):
    identity = process_identity()

    assert holder_is_gone({**identity, "pid": os.getppid(), "start": -1})
    assert holder_is_gone({**identity, "start": identity["start"] - 1})  # our pid, an earlier process


@pytest.mark.parametrize("key", ["host", "boot", "pid_ns"])
def test_a_holder_on_another_machine_or_container_is_left_to_the_expiry(connection, key):
    held_by(connection, pid=dead_pid(), **{key: "elsewhere"})

    assert is_leased(connection)
    assert Lease.acquire(connection.pk) is None


def test_a_process_hidden_from_proc_is_assumed_alive(connection, monkeypatch):
    monkeypatch.setattr(lease, "_proc_stat", lambda pid: None)

    assert not holder_is_gone({**process_identity(), "pid": os.getppid(), "start": -1})


@pytest.mark.parametrize("holder", [None, "text", {"pid": "12"}, {"pid": True}, {}])
def test_an_unreadable_holder_is_left_to_the_expiry(holder):
    assert not holder_is_gone(holder)


def test_the_reaper_closes_a_running_run_whose_lease_another_run_took_over(connection):
    stale = SyncRun.objects.create(
        customer=connection.customer, connection=connection, trigger="manual", status="running"
    )
    held_by(connection, pid=dead_pid(), run=stale.pk)
    current = SyncRun.objects.create(
        customer=connection.customer, connection=connection, trigger="manual", status="running"
    )
    Lease.acquire(connection.pk, run_id=current.pk)

    runs.reap_abandoned_runs(connection=connection)

    stale.refresh_from_db()
    current.refresh_from_db()
    assert (stale.status, stale.error_kind) == ("failed", "abandoned")
    assert current.status == "running"


def test_a_run_taking_over_a_dead_workers_lease_ends_that_workers_run_at_once(connection):
    dead = SyncRun.objects.create(
        customer=connection.customer, connection=connection, trigger="scheduled", status="running"
    )
    held_by(connection, pid=dead_pid(), run=dead.pk)

    run = run_sync(connection, trigger="manual", client_factory=FakeDirectory())

    dead.refresh_from_db()
    assert run.status == "succeeded"
    assert (dead.status, dead.error_kind) == ("failed", "abandoned")


def test_a_run_delivered_twice_is_not_skipped_by_the_worker_that_finds_its_twin_holding_the_lease(
    connection,
):
    run = SyncRun.queue(connection, trigger="manual")
    stale = SyncRun.objects.get(pk=run.pk)  # the second worker's copy, read while the run was queued
    with transaction.atomic():  # the twin takes the lease and claims the run in one commit, as run_sync does
        twin = Lease.acquire(connection.pk, run_id=run.pk)
        assert run.claim()

    second = run_sync(connection, trigger="manual", run=stale, client_factory=FakeDirectory())

    assert second.status == "running"  # left to the twin, not skipped
    twin.release()


def test_a_run_finding_another_run_holding_the_lease_is_skipped(connection):
    Lease.acquire(connection.pk, run_id=12345)
    run = SyncRun.queue(connection, trigger="manual")

    run_sync(connection, trigger="manual", run=run, client_factory=FakeDirectory())

    run.refresh_from_db()
    assert (run.status, run.error) == ("skipped", "Another sync of this connection was already running.")


def test_the_reaper_closes_a_queued_run_whose_worker_took_the_lease_and_vanished(connection):
    run = SyncRun.queue(connection, trigger="manual")
    Lease.acquire(connection.pk, run_id=run.pk)
    AzureConnection.objects.filter(pk=connection.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        lease_holder={**process_identity(), "host": "another-machine", "run": run.pk},
    )

    assert runs.reap_abandoned_runs(connection=connection) == 1

    run.refresh_from_db()
    assert (run.status, run.error_kind) == ("failed", "abandoned")
    assert runs.sync_now(connection=connection, requested_by=None).started
