"""The dispatcher tick with many tenants (issue 20): a constant number of queries
whatever the number of due connections, never two active runs for one
connection, and the "what is due" query answered from the `next_sync_at` index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import tasks
from integrations.models import AzureConnection, SiteMapping, SyncRun
from integrations.services import runs
from integrations.services.scheduling import due_queryset, queue_scheduled_runs
from portal.customers.models import Customer, Site

pytestmark = pytest.mark.django_db


def _connections(count: int, *, first: int = 0, due: bool = True) -> list[AzureConnection]:
    when = timezone.now() + (timedelta(minutes=-1) if due else timedelta(hours=1))
    customers = Customer.objects.bulk_create(
        Customer(name=f"Scale {first + n}", plan="enterprise") for n in range(count)
    )
    sites = Site.objects.bulk_create(Site(customer=c, name="HQ") for c in customers)
    connections = AzureConnection.objects.bulk_create(
        AzureConnection(customer=c, tenant_id=f"88888888-0000-0000-0000-{first + n:012d}", next_sync_at=when)
        for n, c in enumerate(customers)
    )
    SiteMapping.objects.bulk_create(
        SiteMapping(connection=conn, value="HQ", value_key=SiteMapping.key_for("HQ"), site=site)
        for conn, site in zip(connections, sites, strict=True)
    )
    return connections


def _tick_queries(handed: list[int]) -> tuple[int, int]:
    with CaptureQueriesContext(db) as queries:
        started = tasks.dispatch_due_syncs()
    return started, len(queries)


def test_a_tick_costs_the_same_queries_for_five_due_connections_as_for_fifty(monkeypatch):
    handed: list[int] = []
    monkeypatch.setattr(runs, "_hand_to_worker", lambda run, **_: handed.append(run.pk))
    _connections(5)
    few = _tick_queries(handed)
    SyncRun.objects.all().delete()
    handed.clear()
    _connections(45, first=5)
    _connections(30, first=50, due=False)

    many = _tick_queries(handed)

    assert few[0] == 5 and many[0] == 50
    assert many[1] == few[1]  # constant: not several queries per due connection


def test_every_due_connection_is_handed_to_a_worker_once_its_runs_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    handed: list[int] = []
    monkeypatch.setattr(runs, "_hand_to_worker", lambda run, **_: handed.append(run.pk))
    _connections(12)

    with django_capture_on_commit_callbacks(execute=True):
        started = tasks.dispatch_due_syncs()

    queued = list(SyncRun.objects.order_by("pk").values_list("pk", "trigger", "status"))
    assert started == 12
    assert sorted(handed) == [pk for pk, _, _ in queued]
    assert {(trigger, status) for _, trigger, status in queued} == {("scheduled", "queued")}


def test_a_connection_with_a_queued_run_or_paused_meanwhile_gets_no_second_run(monkeypatch):
    monkeypatch.setattr(runs, "_hand_to_worker", lambda run, **_: None)
    busy, paused, free = _connections(3)
    SyncRun.queue(busy, trigger=SyncRun.Trigger.MANUAL)
    # Found due before the pause came in: the check under the row lock still sees it.
    found = list(due_queryset())
    AzureConnection.objects.filter(pk=paused.pk).update(paused_at=timezone.now())

    queued = queue_scheduled_runs(found, runs._hand_to_worker)

    assert [run.connection_id for run in queued] == [free.pk]
    assert SyncRun.objects.filter(connection=busy).count() == 1
    assert not SyncRun.objects.filter(connection=paused).exists()


@pytest.mark.skipif("db.vendor != 'postgresql'")
def test_with_nothing_due_the_due_query_reads_only_the_next_sync_index():
    _connections(300, due=False)
    with db.cursor() as cursor:
        cursor.execute("ANALYZE integrations_azureconnection")
        sql, params = due_queryset().query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "integrations_azureconnection_next_sync_at" in plan, plan
    assert "Seq Scan on integrations_azureconnection" not in plan, plan


def test_a_tick_hands_all_its_runs_to_one_broker(monkeypatch, django_capture_on_commit_callbacks):
    import django_q.brokers
    import django_q.tasks
    from django_q.models import OrmQ

    made: list[object] = []
    real = django_q.brokers.get_broker

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(django_q.brokers, "get_broker", counting)
    monkeypatch.setattr(django_q.tasks, "get_broker", counting)
    _connections(12)

    with django_capture_on_commit_callbacks(execute=True):
        started = tasks.dispatch_due_syncs()

    assert started == 12
    assert len(made) == 1  # not one broker (with Redis: one connection) per task
    queued = {pk for pk in SyncRun.objects.values_list("pk", flat=True)}
    assert {task.task["args"][0] for task in OrmQ.objects.all()} == queued
