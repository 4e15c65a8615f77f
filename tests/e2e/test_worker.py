"""A real django-q2 worker (`manage.py qcluster`) syncs a due connection end to
end: its scheduler runs the dispatcher, the dispatcher queues the run, a
worker process executes it against the simulator over HTTPS."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from integrations.models import AzureConnection, SiteMapping, SyncRun
from integrations.services.scheduling import DISPATCH_SCHEDULE_NAME, ensure_dispatch_schedule
from portal.customers.models import Contact, Customer, Site
from tests.e2e.conftest import CONTOSO

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WAIT_SECONDS = 120
STOP_WITHIN_SECONDS = 25


def test_a_real_worker_syncs_a_due_connection_and_stops_cleanly(portal_on_simulator, worker_factory):
    sim = portal_on_simulator
    sim.apply("grant_consent", tenant=CONTOSO)
    customer = Customer.objects.create(name="Contoso Ltd", plan="enterprise")
    connection = AzureConnection.objects.create(
        customer=customer, tenant_id=CONTOSO, next_sync_at=timezone.now() - timedelta(minutes=1)
    )
    for office in ("Milan HQ", "Rome", "London"):
        site = Site.objects.create(customer=customer, name=office)
        SiteMapping.objects.create(connection=connection, value=office, site=site)
    ensure_dispatch_schedule()
    Schedule.objects.filter(name=DISPATCH_SCHEDULE_NAME).update(next_run=timezone.now())

    worker = worker_factory(sim.settings())
    deadline = time.monotonic() + WAIT_SECONDS
    run = None
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(connection=connection, status__in=["succeeded", "failed"]).first()
        if run or worker.process.poll() is not None:
            break
        time.sleep(1)

    assert run is not None, f"no run finished within {WAIT_SECONDS}s; worker log:\n{worker.output()[-3000:]}"
    assert (run.trigger, run.status) == ("scheduled", "succeeded"), run.error
    assert Contact.objects.filter(customer=customer).count() == run.created > 0
    connection.refresh_from_db()
    assert connection.next_sync_at > timezone.now() + timedelta(hours=11)

    took = worker.stop(grace_seconds=STOP_WITHIN_SECONDS)
    assert worker.process.returncode is not None
    assert took < STOP_WITHIN_SECONDS, f"qcluster took {took:.1f}s to stop"
