"""Continuous sync (R12-R14): the dispatcher, Sync now, backoff, health,
cancellation and the initial import, with django-q2 running tasks inline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule

from integrations import health as outcome
from integrations import tasks
from integrations.graph.errors import ConsentRequiredError, TransientError
from integrations.lease import Lease
from integrations.models import AzureConnection, Health, SiteMapping, SyncRun
from integrations.services import mapping, runs
from integrations.services.connections import connection_disconnect
from integrations.services.scheduling import DISPATCH_SCHEDULE_NAME, due_connections, ensure_dispatch_schedule
from integrations.sync import runner
from portal.customers.models import Contact, Customer, Site
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def inline_tasks(monkeypatch, directory, settings):
    """django-q2 in sync mode: async_task runs the task at once, in this process."""
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr(runner, "default_client_factory", directory)
    settings.AZURE_SYNC_INTERVAL_HOURS = 12


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Execute the on-commit hand-over to the worker, as a real commit would."""

    def _run(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return _run


class Failing:
    """A directory client that raises the given error when the fetch starts."""

    requests_made = 0
    read_permission = ""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, tenant_id):
        return self

    def iter_user_delta(self, delta_link=None):
        raise self.error

    def get_mailbox_purposes(self, ids):
        return {}


def another_connection(name: str, tenant_suffix: int, **fields) -> AzureConnection:
    customer = Customer.objects.create(name=name, plan="enterprise")
    connection = AzureConnection.objects.create(
        customer=customer, tenant_id=f"99999999-0000-0000-0000-{tenant_suffix:012d}", **fields
    )
    site = Site.objects.create(customer=customer, name="HQ")
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    return connection


def test_the_dispatcher_queues_exactly_the_due_connections(mapped, directory, run_on_commit):
    add_person(directory)
    past, future = timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(hours=1)
    mapped.next_sync_at = past
    mapped.save()
    not_due = another_connection("NotDue", 1, next_sync_at=future)
    attention = another_connection("Attention", 2, next_sync_at=past, health=Health.NEEDS_ATTENTION)
    leased = another_connection("Leased", 3, next_sync_at=past)
    Lease.acquire(leased.pk)
    unmapped = another_connection("Unmapped", 4, next_sync_at=past)
    unmapped.mappings.all().delete()

    assert [c.pk for c in due_connections()] == [mapped.pk]
    started = run_on_commit(tasks.dispatch_due_syncs)

    assert started == 1
    run = SyncRun.objects.get()
    assert (run.connection, run.trigger, run.status) == (mapped, "scheduled", "succeeded")
    assert not SyncRun.objects.filter(connection__in=[not_due, attention, leased, unmapped]).exists()


def test_after_a_success_the_next_sync_is_finish_plus_the_interval(mapped, directory, sync):
    run = sync(mapped)

    mapped.refresh_from_db()
    assert mapped.last_sync_at == run.finished_at
    assert mapped.next_sync_at == run.finished_at + timedelta(hours=12)
    assert mapped.health == Health.HEALTHY


def test_transient_failures_back_off_from_15_minutes_doubling_capped_at_the_interval(mapped):
    delays = []
    for _ in range(5):
        mapped.refresh_from_db()
        run = runner.run_sync(
            mapped, trigger="scheduled", client_factory=Failing(TransientError("429 storm"))
        )
        mapped.refresh_from_db()
        delays.append(mapped.next_sync_at - run.finished_at)
        assert mapped.health == Health.BACKING_OFF
    assert delays == [timedelta(minutes=m) for m in (15, 30, 60, 120, 240)]
    assert outcome.backoff_delay(10) == timedelta(hours=12)


def test_revoked_consent_needs_attention_and_stops_automatic_runs_until_a_manual_success(
    mapped, directory, run_on_commit
):
    add_person(directory)
    runner.run_sync(mapped, trigger="scheduled", client_factory=Failing(ConsentRequiredError("AADSTS700016")))
    mapped.refresh_from_db()
    assert mapped.health == Health.NEEDS_ATTENTION
    assert "Reconnect" in mapped.health_reason
    assert mapped.next_sync_at is None
    mapped.next_sync_at = timezone.now() - timedelta(days=1)  # even if it were due
    mapped.save()
    assert run_on_commit(tasks.dispatch_due_syncs) == 0

    result = run_on_commit(runs.sync_now, connection=mapped, requested_by=None)

    assert result.started
    mapped.refresh_from_db()
    assert mapped.health == Health.HEALTHY and mapped.next_sync_at > timezone.now()
    assert Contact.objects.count() == 1


def test_many_consecutive_failures_quarantine_the_connection_to_one_attempt_a_day(mapped):
    for _ in range(outcome.QUARANTINE_AFTER_FAILURES):
        mapped.refresh_from_db()
        run = runner.run_sync(mapped, trigger="scheduled", client_factory=Failing(TransientError("503")))
    mapped.refresh_from_db()
    assert mapped.health == Health.QUARANTINED
    assert mapped.next_sync_at == run.finished_at + timedelta(days=1)
    assert "6 syncs in a row failed" in mapped.health_reason_text


def test_sync_now_is_refused_while_a_run_is_queued_or_running(mapped, directory):
    first = runs.sync_now(connection=mapped, requested_by=None)  # on_commit not executed: stays queued
    assert first.started and first.run.status == "queued"

    second = runs.sync_now(connection=mapped, requested_by=None)
    assert not second.started
    assert second.run == first.run
    assert "already queued" in second.message

    SyncRun.objects.filter(pk=first.run.pk).update(status="running")
    Lease.acquire(mapped.pk)
    third = runs.sync_now(connection=mapped, requested_by=None)
    assert not third.started and "already running" in third.message
    assert SyncRun.objects.count() == 1


def test_a_running_run_whose_worker_died_does_not_block_sync_now(mapped, directory, run_on_commit):
    dead = SyncRun.objects.create(
        customer=mapped.customer, connection=mapped, trigger="scheduled", status="running"
    )

    result = run_on_commit(runs.sync_now, connection=mapped, requested_by=None)

    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped unexpectedly" in dead.error
    assert result.started
    result.run.refresh_from_db()
    assert result.run.status == "succeeded"


def test_disconnect_cancels_queued_runs(mapped):
    queued = runs.sync_now(connection=mapped, requested_by=None).run

    connection_disconnect(connection=mapped)

    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert tasks.execute_run(queued.pk) == f"run {queued.pk}: nothing to do"


def test_disconnect_stops_a_running_run_at_its_next_page(mapped, directory, monkeypatch):
    for n in range(9):
        add_person(directory, mail=f"u{n}@contoso.com")
    write_page = runner.write_page
    written = []

    def disconnect_after_first_page(*args, **kwargs):
        result = write_page(*args, **kwargs)
        written.append(result)
        if len(written) == 1:  # a person disconnects while the run works
            connection_disconnect(connection=AzureConnection.objects.get(pk=mapped.pk))
        return result

    monkeypatch.setattr(runner, "write_page", disconnect_after_first_page)
    run = runner.run_sync(mapped, trigger="manual", client_factory=directory)

    assert run.status == "cancelled"
    assert "disconnected" in run.error_text
    assert not Contact.objects.exists()
    assert not AzureConnection.objects.exists()


def test_the_first_mapping_of_a_new_connection_starts_the_initial_import(
    connection, directory, milan, run_on_commit
):
    add_person(directory)

    run_on_commit(mapping.mapping_set, connection=connection, value="Milan HQ", site=milan)

    run = SyncRun.objects.get()
    assert (run.trigger, run.status) == ("initial", "succeeded")
    assert Contact.objects.get().site == milan
    run_on_commit(mapping.mapping_set, connection=connection, value="Rome", new_site_name="Rome")
    assert SyncRun.objects.count() == 1  # later mappings apply at the next sync


def test_runs_report_progress_for_the_progress_bar(mapped, directory, sync):
    for n in range(5):
        add_person(directory, mail=f"u{n}@contoso.com")

    run = sync(mapped)

    assert (run.progress_done, run.progress_total) == (5, 5)


def test_the_dispatch_schedule_exists_once_however_often_migrate_runs(db):
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    ensure_dispatch_schedule()

    schedule = Schedule.objects.get(name=DISPATCH_SCHEDULE_NAME)
    assert schedule.func == "integrations.tasks.dispatch_due_syncs"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 5, -1)


def test_a_queued_run_nobody_picked_up_is_reaped(mapped, monkeypatch):
    stale = SyncRun.objects.create(
        customer=mapped.customer,
        connection=mapped,
        trigger="manual",
        created_at=timezone.now() - timedelta(days=1),
    )

    assert runs.reap_abandoned_runs() == 1
    stale.refresh_from_db()
    assert stale.status == "failed" and "qcluster" in stale.error


def test_a_customer_whose_plan_lost_the_feature_is_not_synced(mapped, directory):
    mapped.next_sync_at = timezone.now() - timedelta(minutes=1)
    mapped.save()
    Customer.objects.filter(pk=mapped.customer_id).update(plan="starter")
    mapped.refresh_from_db()

    assert due_connections() == []
    with pytest.raises(runs.SyncNotAllowed, match="plan does not include"):
        runs.sync_now(connection=mapped, requested_by=None)
