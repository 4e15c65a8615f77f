"""Crashes, overlapping runs and query counts of the sync engine."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from django.db import connections

from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from integrations.sync import apply as apply_module
from integrations.sync.runner import run_sync
from portal.customers.models import Contact, Customer, Site
from tests.integrations.fakes import FakeDirectory
from tests.integrations.statements import statements
from tests.integrations.test_sync_rules import add_person


def fill(directory: FakeDirectory, count: int) -> None:
    offices = ["Milan HQ", "Rome", "Paris"]
    for n in range(count):
        add_person(
            directory,
            mail=f"user{n}@contoso.com",
            givenName=f"Given{n}",
            surname=f"Surname{n}",
            jobTitle=f"Title {n % 7}",
            officeLocation=offices[n % 3],
        )


def connect(name: str, tenant: str) -> AzureConnection:
    customer = Customer.objects.create(name=name, plan="enterprise")
    connection = AzureConnection.objects.create(customer=customer, tenant_id=tenant)
    for value in ("Milan HQ", "Rome"):
        site = Site.objects.create(customer=customer, name=value)
        SiteMapping.objects.create(connection=connection, value=value, site=site)
    return connection


def contact_state(customer: Customer) -> list[tuple]:
    return sorted(
        Contact.objects.filter(customer=customer).values_list(
            "email", "first_name", "last_name", "job_title", "mobile_phone", "site__name", "is_shared_mailbox"
        )
    )


def audit_state(customer: Customer) -> list[tuple]:
    return sorted(
        FieldChange.objects.filter(customer=customer).values_list(
            "contact_email", "field", "old_value", "new_value"
        )
    )


@pytest.mark.django_db(transaction=True)
def test_a_crash_in_the_middle_of_apply_leaves_the_database_consistent_and_the_next_run_converges(
    monkeypatch,
):
    directory = FakeDirectory(page_size=50)
    fill(directory, 120)
    crashy = connect("Crashy", "aaaaaaaa-0000-0000-0000-000000000001")
    clean = connect("Clean", "aaaaaaaa-0000-0000-0000-000000000002")
    original = apply_module._create_batch
    calls = {"n": 0}

    def crash_on_second_batch(batch, run, result):
        calls["n"] += 1
        original(batch, run, result)
        if calls["n"] == 2:
            raise RuntimeError("power cut in the middle of the apply")

    monkeypatch.setattr(apply_module, "BATCH_SIZE", 30)
    monkeypatch.setattr(apply_module, "_create_batch", crash_on_second_batch)
    failed = run_sync(crashy, trigger=SyncRun.Trigger.INITIAL, client_factory=directory)

    assert failed.status == SyncRun.Status.FAILED
    # Only the first batch committed, with exactly its audit rows; the second rolled back whole.
    created = Contact.objects.filter(customer=crashy.customer).count()
    assert created == 30
    assert FieldChange.objects.filter(customer=crashy.customer, field="created").count() == created

    monkeypatch.setattr(apply_module, "_create_batch", original)
    recovered = run_sync(crashy, trigger=SyncRun.Trigger.SCHEDULED, client_factory=directory)
    reference = run_sync(clean, trigger=SyncRun.Trigger.INITIAL, client_factory=directory)

    assert recovered.status == reference.status == SyncRun.Status.SUCCEEDED
    assert contact_state(crashy.customer) == contact_state(clean.customer)
    assert audit_state(crashy.customer) == audit_state(clean.customer)
    assert run_sync(crashy, trigger="manual", client_factory=directory).fields_changed == 0


class SlowDirectory(FakeDirectory):
    """Holds each page for a moment so that concurrent starts really overlap."""

    def iter_user_delta(self, delta_link=None):
        for page in super().iter_user_delta(delta_link):
            time.sleep(1.0)  # long enough that a start delayed by a loaded machine still overlaps
            yield page


def _start_sync(connection_id: int, barrier, results) -> None:
    connections.close_all()
    directory = SlowDirectory(page_size=2)
    fill(directory, 6)
    barrier.wait()
    run = run_sync(
        AzureConnection.objects.get(pk=connection_id), trigger="scheduled", client_factory=directory
    )
    results.put(run.status)
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_eight_processes_syncing_one_connection_at_once_produce_exactly_one_run():
    connection = connect("Busy", "bbbbbbbb-0000-0000-0000-000000000001")
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    workers = [context.Process(target=_start_sync, args=(connection.pk, barrier, results)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    statuses = sorted(results.get(timeout=5) for _ in workers)
    assert statuses == ["skipped"] * 7 + ["succeeded"]
    runs = SyncRun.objects.filter(connection=connection)
    assert runs.filter(status="succeeded").count() == 1 and runs.filter(status="skipped").count() == 7
    assert Contact.objects.filter(customer=connection.customer).count() == 4
    connection.refresh_from_db()
    assert connection.lease_token is None


@pytest.mark.django_db
def test_a_5000_user_sync_runs_in_a_bounded_number_of_queries():
    directory = FakeDirectory(page_size=999)
    fill(directory, 5000)
    connection = connect("Large", "cccccccc-0000-0000-0000-000000000001")

    with statements() as initial:
        run = run_sync(connection, trigger="initial", client_factory=directory)
    assert run.created == 3334
    for n in range(0, 5000, 50):
        directory.update(
            next(iter(directory.users)) if n == 0 else list(directory.users)[n], jobTitle="Changed"
        )
    with statements() as delta:
        changed = run_sync(connection, trigger="manual", client_factory=directory)

    assert changed.status == SyncRun.Status.SUCCEEDED
    assert len(initial) < 120, len(initial)
    assert len(delta) < 60, len(delta)
