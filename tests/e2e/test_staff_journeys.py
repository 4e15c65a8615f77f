"""Staff journeys in a real Chromium: invite a customer administrator (the
e-mail is captured by the locmem backend and rendered in the browser), the
invitee sets a password and sees the customer; the health page puts a
connection whose consent was revoked at the top, with its fix. Screenshots
go to test-artifacts/screenshots/ (copied to docs/screenshots/)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.utils import timezone

from integrations.models import AzureConnection, Health, SiteMapping, SyncRun
from integrations.sync.runner import run_sync
from portal.access.staff_group import STAFF_GROUP
from portal.customers.models import Contact, Customer, Membership, Site
from tests.e2e import test_browser_journeys as journeys
from tests.e2e.conftest import CONTOSO
from tests.e2e.test_browser_journeys import TIMEOUT_MS, log_in, shot

# The browser fixtures of the main journeys, shared.
chromium = journeys.chromium
page = journeys.page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def staff(db) -> User:
    user = User.objects.create_user(
        "staff", password="staff-pass-123", is_staff=True, email="staff@msp.example"
    )
    user.groups.add(Group.objects.get(name=STAFF_GROUP))
    return user


@pytest.fixture
def contoso(db) -> Customer:
    customer = Customer.objects.create(name="Contoso Ltd", plan="enterprise")
    Site.objects.create(customer=customer, name="Milan")
    return customer


def email_page(message) -> str:
    """The captured e-mail as a mail client would show it: headers, the HTML part, the text part."""
    html_part = next(content for content, mimetype in message.alternatives if mimetype == "text/html")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(message.subject)}</title>
<style>body{{font-family:sans-serif;margin:2rem;max-width:52rem}} dl{{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}}
dt{{font-weight:600}} .part{{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}} pre{{white-space:pre-wrap}}</style></head>
<body><h1>Captured e-mail</h1><dl><dt>From</dt><dd>{html.escape(message.from_email)}</dd>
<dt>To</dt><dd>{html.escape(", ".join(message.to))}</dd><dt>Subject</dt><dd>{html.escape(message.subject)}</dd></dl>
<h2>HTML part</h2><div class="part">{html_part}</div>
<h2>Text part</h2><pre class="part">{html.escape(message.body)}</pre></body></html>"""


def test_staff_invite_a_customer_administrator_who_sets_a_password_and_sees_the_customer(
    staff, contoso, live_server, page, chromium, settings
):
    settings.PORTAL_URL = live_server.url
    log_in(page, live_server, "staff", "staff-pass-123", f"/admin/customers/customer/{contoso.pk}/change/")
    page.wait_for_url(re.compile(r"/admin/customers/customer/\d+/change/"))
    page.click("text=Invite an administrator")
    page.wait_for_url(re.compile(r"/admin/access/invitation/add/"))
    page.fill("#id_email", "megan.bowen@contoso.com")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert "megan.bowen@contoso.com" in page.inner_text("#result_list")
    assert "Pending" in page.inner_text("#result_list")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["megan.bowen@contoso.com"]
    link = re.search(r"https?://\S+/invitations/\d+/\S+/", message.body).group(0)
    assert link.startswith(live_server.url)

    reader = chromium.new_context(viewport={"width": 1100, "height": 900})
    mail_tab = reader.new_page()
    mail_tab.set_content(email_page(message))
    shot(mail_tab, "staff-invitation-email")
    reader.close()

    invitee = chromium.new_context(viewport={"width": 1280, "height": 900})
    invitee.set_default_timeout(TIMEOUT_MS)
    tab = invitee.new_page()
    tab.goto(link)
    assert "Administer Contoso Ltd" in tab.content()
    tab.fill("#id_username", "megan")
    tab.fill("#id_password1", "A-long-Pass-phrase-42")
    tab.fill("#id_password2", "A-long-Pass-phrase-42")
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(rf"/customers/{contoso.pk}/$"))
    assert "Contoso Ltd" in tab.inner_text("h1")
    assert "Milan" in tab.content()
    megan = User.objects.get(username="megan")
    assert Membership.objects.get(user=megan, customer=contoso).role == "admin"

    # The link was single-use.
    again = invitee.new_page()
    again.goto(link)
    assert "cannot be used" in again.content()

    tab.click("text=Activity log")
    tab.wait_for_url(re.compile(r"/activity/"))
    text = tab.inner_text("table")
    assert "Invited an administrator" in text and "Accepted an invitation" in text and "staff" in text
    shot(tab, "staff-activity-log-portal")
    invitee.close()

    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/activity/activity/")
    assert "Added a membership" in page.inner_text("#result_list")
    assert fits(page)
    shot(page, "staff-activity-log")


def fits(page) -> bool:
    """The changelist's table is not cut off: nothing to scroll sideways."""
    return page.evaluate(
        "() => { const r = document.querySelector('#changelist .results');"
        " return r.scrollWidth <= r.clientWidth + 1; }"
    )


def test_the_sync_runs_and_contacts_changelists_fit_1366_pixels(staff, contoso, live_server, page):
    connection = AzureConnection.objects.create(
        customer=contoso, tenant_id=CONTOSO, tenant_name="Contoso Ltd"
    )
    for index in range(5):
        SyncRun.objects.create(
            customer=contoso,
            connection=connection,
            trigger="scheduled",
            status="succeeded",
            fetched=2000,
            created=1800 + index,
            updated=150,
            skipped=50,
        )
        Contact.objects.create(
            customer=contoso,
            site=contoso.sites.get(),
            email=f"maximilian.longname-{index}@contoso-international.example",
            first_name="Maximilian",
            last_name="Oberhauser-Longname",
            job_title="Senior Regional Sales Director",
        )
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server, "staff", "staff-pass-123", "/admin/integrations/syncrun/")
    page.wait_for_url(re.compile(r"/admin/integrations/syncrun/"))
    assert page.locator("#result_list tbody tr").count() == 5
    shot(page, "staff-sync-runs-1366")
    assert fits(page)
    page.goto(f"{live_server.url}/admin/customers/contact/")
    assert page.locator("#result_list tbody tr").count() == 5
    shot(page, "staff-contacts-1366")
    assert fits(page)


def test_the_health_page_puts_a_revoked_consent_at_the_top_with_its_fix(
    portal_on_simulator, staff, contoso, live_server, page
):
    sim = portal_on_simulator
    sim.apply("grant_consent", tenant=CONTOSO)
    revoked = AzureConnection.objects.create(customer=contoso, tenant_id=CONTOSO, tenant_name="Contoso Ltd")
    SiteMapping.objects.create(connection=revoked, value="Milan HQ", site=contoso.sites.get())
    now = timezone.now()
    for index, (name, fields) in enumerate(
        [
            ("Adatum Corp", {"last_sync_at": now - timedelta(hours=2)}),
            (
                "Fabrikam Inc",
                {
                    "last_sync_at": now - timedelta(hours=1),
                    "health": Health.BACKING_OFF,
                    "consecutive_failures": 2,
                    "health_reason": "The last sync failed (Microsoft Graph timed out); retrying automatically.",
                },
            ),
            ("Northwind Traders", {"last_sync_at": now - timedelta(days=4)}),
        ],
        start=1,
    ):
        customer = Customer.objects.create(name=name, plan="enterprise")
        AzureConnection.objects.create(
            customer=customer, tenant_id=f"00000000-0000-0000-0000-{index:012d}", tenant_name=name, **fields
        )

    sim.apply("revoke_consent", tenant=CONTOSO)
    run = run_sync(revoked, trigger="manual")
    assert run.status == "failed"
    revoked.refresh_from_db()
    assert revoked.health == Health.NEEDS_ATTENTION

    log_in(page, live_server, "staff", "staff-pass-123", "/admin/")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.click("text=Connection health")
    page.wait_for_url(re.compile(r"/admin/integrations/azureconnection/health/"))
    first = page.locator("#health-table tbody tr").first
    assert first.get_attribute("data-category") == "needs_attention"
    assert "Contoso Ltd" in first.inner_text()
    assert "Import from Azure AD" in first.inner_text()
    categories = [row.get_attribute("data-category") for row in page.locator("#health-table tbody tr").all()]
    assert categories == ["needs_attention", "backing_off", "stale", "healthy"]
    shot(page, "staff-health-page")
