"""The leavers policy in a real Chromium, against the live portal, a real django-q2
worker and the local Microsoft simulator: a user leaves the directory, the
administrator previews "deactivate" on the policy page, saves, runs a sync and
finds the contact greyed out on its site. Screenshots in test-artifacts/screenshots/
(and docs/screenshots/policy-*.png)."""

from __future__ import annotations

import re

import pytest

from integrations import mapping_selectors
from integrations.models import AzureConnection, FieldChange
from integrations.services import mapping, runs
from portal.activity.models import Activity
from portal.customers.models import Contact
from tests.e2e import test_browser_journeys as journeys
from tests.e2e.conftest import CONTOSO
from tests.e2e.test_browser_journeys import TIMEOUT_MS, log_in, shot
from tests.e2e.test_safety_journeys import wait_for_run

chromium = journeys.chromium
page = journeys.page
contoso = journeys.contoso
running_portal = journeys.running_portal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def test_an_admin_previews_deactivate_for_leavers_saves_runs_and_sees_the_greyed_contact(
    running_portal, contoso, live_server, page
):
    sim, worker = running_portal
    sim.apply("grant_consent", tenant=CONTOSO)
    connection = AzureConnection.objects.create(
        customer=contoso, tenant_id=CONTOSO, tenant_name="Contoso Ltd"
    )
    runs.directory_read(connection=connection, requested_by=None)
    wait_for_run({"connection": connection, "dry_run": True}, "succeeded", worker)
    for value in mapping_selectors.attribute_values(connection=connection):
        mapping.mapping_set(connection=connection, value=value.value, new_site_name=value.value)
    wait_for_run({"connection": connection, "trigger": "initial", "dry_run": False}, "succeeded", worker)

    # Someone leaves; a sync under the default policy ("keep") leaves the contact active (R8).
    leaver = (
        Contact.objects.filter(customer=contoso, azure_object_id__isnull=False, site__isnull=False)
        .exclude(is_shared_mailbox=True)
        .exclude(job_title="")
        .order_by("last_name", "email")
        .first()
    )
    sim.apply("remove_user", tenant=CONTOSO, user=leaver.azure_object_id)
    runs.sync_now(connection=connection, requested_by=None)
    wait_for_run({"connection": connection, "trigger": "manual"}, "succeeded", worker)
    leaver.refresh_from_db()
    assert leaver.is_active

    log_in(
        page, live_server, "contoso-admin", "admin-pass-123", f"/integrations/azure/customers/{contoso.pk}/"
    )
    page.wait_for_selector("#policies")
    page.click("#policies a:has-text('Edit policies')")
    page.wait_for_url(re.compile(r"/policies/$"))
    page.check("input[name=leavers][value=deactivate]")
    page.click("button[value=preview]")
    page.wait_for_selector("#policy-preview")
    assert page.inner_text("[data-preview=deactivated]") == "1"
    assert leaver.email in page.inner_text("#policy-preview")
    shot(page, "policy-01-preview", docs=True)
    connection.refresh_from_db()
    assert connection.leavers == "keep"  # a preview saves nothing

    page.click("button[value=save]")
    page.wait_for_selector(".message")
    connection.refresh_from_db()
    assert connection.leavers == "deactivate"
    assert Activity.objects.get(kind="policy_changed").actor_name == "contoso-admin"

    page.goto(f"{live_server.url}/integrations/azure/customers/{contoso.pk}/")
    page.click("button:has-text('Sync now')")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    page.wait_for_selector("[data-status]:has-text('Succeeded')", timeout=TIMEOUT_MS)
    page.reload()  # the policies' summary is drawn with the finished run
    page.wait_for_selector("[data-run-policy]")
    assert page.inner_text("[data-run-policy] [data-count=deactivated]") == "1"
    shot(page, "policy-02-run", docs=True)

    leaver.refresh_from_db()
    assert not leaver.is_active
    assert FieldChange.objects.filter(contact=leaver, field="is_active", new_value="False").exists()
    page.goto(f"{live_server.url}/customers/{contoso.pk}/sites/{leaver.site_id}/?q={leaver.email}")
    row = page.locator("tr.inactive")
    assert row.count() == 1 and leaver.email in row.inner_text()
    assert "inactive" in row.inner_text()
    color = row.locator("td").first.evaluate("cell => getComputedStyle(cell).color")
    assert color != "rgb(27, 31, 36)"  # greyed out, not the page's text colour
    page.goto(f"{live_server.url}/customers/{contoso.pk}/sites/{leaver.site_id}/")
    shot(page, "policy-03-greyed-contact", docs=True)
