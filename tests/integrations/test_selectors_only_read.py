"""Selectors read and never write (STYLE.md, "Reads that only read"): a page that
shows the active run does not close a run whose worker vanished; a service does."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from integrations import selectors
from integrations.models import SyncRun
from integrations.services import runs


def _lost_queued_run(connection) -> SyncRun:
    """A queued run no worker picked up within the task queue's retry window."""
    return SyncRun.objects.create(
        customer=connection.customer,
        connection=connection,
        tenant_id=connection.tenant_id,
        trigger=SyncRun.Trigger.MANUAL,
        created_at=timezone.now() - timedelta(days=1),
    )


def test_it_returns_the_active_run_without_reaping_it(mapped, django_assert_num_queries):
    lost = _lost_queued_run(mapped)

    with django_assert_num_queries(1):
        assert selectors.active_run(connection=mapped) == lost

    lost.refresh_from_db()
    assert lost.status == SyncRun.Status.QUEUED


def test_it_returns_nothing_once_a_service_has_reaped_the_run(mapped):
    lost = _lost_queued_run(mapped)

    assert runs.reap_abandoned_runs(connection=mapped) == 1

    assert selectors.active_run(connection=mapped) is None
    lost.refresh_from_db()
    assert lost.status == SyncRun.Status.FAILED


def test_the_management_page_does_not_reap(client, customer_admin, mapped):
    lost = _lost_queued_run(mapped)
    client.force_login(customer_admin)

    response = client.get(reverse("integrations:manage", args=[mapped.customer_id]))

    assert response.status_code == 200
    assert response.context["active_run"] == lost
    lost.refresh_from_db()
    assert lost.status == SyncRun.Status.QUEUED
