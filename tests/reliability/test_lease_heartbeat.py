"""The lease is short and a heartbeat keeps it alive while its run works: a
silent stretch (a long Retry-After, a long plan) never lets another worker in,
and a worker lost with its machine frees the connection within one lease."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections

from integrations import lease as leases
from integrations.lease import Heartbeat, Lease
from integrations.models import AzureConnection, SyncRun
from integrations.sync.runner import run_sync
from tests.integrations.fakes import FakeDirectory
from tests.integrations.test_sync_resilience import connect, fill

pytestmark = pytest.mark.django_db(transaction=True)

LEASE_SECONDS = 1.0


@pytest.fixture(autouse=True)
def short_lease(monkeypatch):
    monkeypatch.setattr(leases, "LEASE_DURATION", timedelta(seconds=LEASE_SECONDS))


@pytest.fixture
def connection() -> AzureConnection:
    return connect("Heartbeat Ltd", "cccccccc-0000-0000-0000-000000000001")


def wait_past_the_lease() -> None:
    time.sleep(LEASE_SECONDS * 2.5)


def test_a_silent_holder_keeps_its_lease_while_its_heartbeat_beats(connection):
    held = Lease.acquire(connection.pk, run_id=1)

    with Heartbeat(held) as heartbeat:
        wait_past_the_lease()
        assert Lease.acquire(connection.pk, run_id=2) is None

    assert heartbeat.beats >= 3
    connection.refresh_from_db()
    assert connection.lease_token == held.token


def test_without_its_heartbeat_a_lost_holders_lease_is_free_after_one_lease(connection):
    held = Lease.acquire(connection.pk, run_id=1)
    with Heartbeat(held):
        pass  # the worker is lost: nothing renews, nothing releases

    wait_past_the_lease()

    taken = Lease.acquire(connection.pk, run_id=2)
    assert taken is not None
    with pytest.raises(leases.LeaseLost):
        held.renew()


def test_a_heartbeat_stops_renewing_when_the_run_exceeds_its_time_budget(connection, caplog):
    held = Lease.acquire(connection.pk, run_id=1)

    with Heartbeat(held, every=0.1, budget=0.3):
        wait_past_the_lease()
        assert Lease.acquire(connection.pk, run_id=2) is not None

    assert "time budget" in caplog.text


def test_a_heartbeat_never_takes_back_a_released_lease(connection):
    held = Lease.acquire(connection.pk, run_id=1)

    with Heartbeat(held, every=0.05) as heartbeat:
        held.release()
        time.sleep(0.5)
        assert not heartbeat._thread.is_alive()  # it stopped at its first beat without a lease

    connection.refresh_from_db()
    assert (connection.lease_token, connection.lease_expires_at, connection.lease_holder) == (
        None,
        None,
        None,
    )


class SilentDirectory(FakeDirectory):
    """Answers its first page, then keeps the run waiting longer than a lease (a long Retry-After)."""

    def __init__(self, *, silent_for: float) -> None:
        super().__init__(page_size=2)
        self.silent_for = silent_for
        self.waiting = threading.Event()

    def iter_user_delta(self, delta_link=None):
        for number, page in enumerate(super().iter_user_delta(delta_link)):
            if number == 1:
                self.waiting.set()
                time.sleep(self.silent_for)
            yield page


def test_a_run_silent_for_longer_than_its_lease_keeps_the_connection_and_finishes(connection):
    directory = SilentDirectory(silent_for=LEASE_SECONDS * 3)
    fill(directory, 6)
    finished: list[SyncRun] = []

    def first_run() -> None:
        try:
            finished.append(run_sync(connection, trigger="scheduled", client_factory=directory))
        finally:
            connections.close_all()

    worker = threading.Thread(target=first_run)
    worker.start()
    assert directory.waiting.wait(30)
    wait_past_the_lease()
    second = run_sync(
        AzureConnection.objects.get(pk=connection.pk), trigger="manual", client_factory=directory
    )
    worker.join(60)

    assert second.status == SyncRun.Status.SKIPPED
    assert [run.status for run in finished] == [SyncRun.Status.SUCCEEDED]
    connection.refresh_from_db()
    assert connection.lease_token is None
