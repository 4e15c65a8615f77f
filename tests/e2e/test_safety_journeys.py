"""The safety net in a real Chromium, against the live portal, a real django-q2
worker and the local Microsoft simulator: a mass change held by the brake and
approved from the management page, then undone from its run page after the
confirmation. Screenshots go to test-artifacts/screenshots/ (the ones in
docs/screenshots/ come from this journey)."""

from __future__ import annotations

import re
import time

import pytest

from integrations import mapping_selectors
from integrations.models import AzureConnection, FieldChange, PauseReason, SyncRun
from integrations.services import mapping, runs
from portal.customers.models import Contact
from tests.e2e import test_browser_journeys as journeys
from tests.e2e.conftest import CONTOSO
from tests.e2e.test_browser_journeys import TIMEOUT_MS, log_in, shot

# The browser, the logged-in customer and the live portal with its worker, as in the main journeys.
chromium = journeys.chromium
page = journeys.page
contoso = journeys.contoso
running_portal = journeys.running_portal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def wait_for_run(run_filter: dict, status: str, worker, timeout: float = 60) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(**run_filter).order_by("-pk").first()
        if run is not None and run.status == status:
            return run
        time.sleep(0.2)
    raise AssertionError(
        f"no run {run_filter} reached {status}: {run and run.status} {worker.output()[-2000:]}"
    )


def test_a_held_mass_change_is_approved_from_the_management_page_then_undone_from_its_run_page(
    running_portal,
    contoso,
    live_server,
    page,
):
    sim, worker = running_portal
    sim.apply("grant_consent", tenant=CONTOSO)
    # A small tenant: its admins set a tighter brake than the default minimum of 50 contacts.
    connection = AzureConnection.objects.create(
        customer=contoso, tenant_id=CONTOSO, tenant_name="Contoso Ltd", brake_minimum=5
    )
    runs.directory_read(connection=connection, requested_by=None)
    wait_for_run({"connection": connection, "dry_run": True}, "succeeded", worker)
    for value in mapping_selectors.attribute_values(connection=connection):
        mapping.mapping_set(connection=connection, value=value.value, new_site_name=value.value)
    initial = wait_for_run(
        {"connection": connection, "trigger": "initial", "dry_run": False}, "succeeded", worker
    )
    before = dict(Contact.objects.filter(customer=contoso).values_list("email", "job_title"))
    assert initial.created == len(before) > 10

    # HR rewrites half the titles; the next sync is held by the brake.
    sim.apply("churn", tenant=CONTOSO, update=30, seed=7)
    runs.sync_now(connection=connection, requested_by=None)
    held = wait_for_run({"connection": connection, "trigger": "manual"}, "held", worker)
    assert not FieldChange.objects.filter(run=held).exists()
    assert dict(Contact.objects.filter(customer=contoso).values_list("email", "job_title")) == before

    log_in(
        page, live_server, "contoso-admin", "admin-pass-123", f"/integrations/azure/customers/{contoso.pk}/"
    )
    page.wait_for_selector("#held-banner")
    assert "held by the mass-change brake" in page.inner_text("#held-banner").lower()
    shot(page, "safety-01-held-banner")
    page.click("#held-banner button:has-text('Approve and apply')")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    page.wait_for_selector("[data-status]:has-text('Succeeded')", timeout=TIMEOUT_MS)
    shot(page, "safety-02-approved-run")
    approval = SyncRun.objects.get(approves=held)
    assert approval.status == "succeeded" and approval.updated == held.preview["update"]
    after_approval = dict(Contact.objects.filter(customer=contoso).values_list("email", "job_title"))
    assert after_approval != before

    page.reload()  # the page was drawn while the run was queued; Undo is offered once it has finished
    page.click("text=Undo this run…")
    page.wait_for_selector("#undo-summary")
    summary = page.inner_text("#undo-summary")
    assert f"{approval.fields_changed} fields put back (contacts: {approval.updated})" in summary
    shot(page, "safety-03-undo-confirmation")
    assert not SyncRun.objects.filter(undoes=approval).exists()  # nothing before confirming
    page.click("button:has-text('Yes, undo this run')")
    page.wait_for_selector("[data-status]:has-text('Succeeded')", timeout=TIMEOUT_MS)
    page.wait_for_selector("#undo-report")
    page.reload()  # the report is drawn with the finished run
    page.wait_for_selector("#undo-report")
    shot(page, "safety-04-undo-finished")
    undo = SyncRun.objects.get(undoes=approval)
    assert undo.trigger == "undo" and undo.status == "succeeded"
    assert dict(Contact.objects.filter(customer=contoso).values_list("email", "job_title")) == before
    connection.refresh_from_db()
    assert connection.pause_reason == PauseReason.UNDO

    page.goto(f"{live_server.url}/integrations/azure/customers/{contoso.pk}/")
    page.wait_for_selector("#paused-banner")
    assert "Syncs paused after an undo" in page.inner_text("#paused-banner")
    shot(page, "safety-05-paused-after-undo")
    page.click("#paused-banner button:has-text('Resume syncs')")
    page.wait_for_selector(".message")
    connection.refresh_from_db()
    assert not connection.is_paused
