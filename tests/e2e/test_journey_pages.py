"""Browser journeys of the finished pages, in a real Chromium against the live portal:
a run that ends before the page's first poll, a member's 403 page, a site page at
phone width, and the demo's sign-in page over plain HTTP. Screenshots go to test-artifacts/screenshots/ (copied to docs/screenshots/)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from integrations.graph import tokens
from integrations.models import AzureConnection, SiteMapping, SyncRun
from integrations.sync.runner import run_sync
from microsoft_simulator.server import start_simulator
from portal.customers.models import Contact, Membership, Site
from tests.e2e.conftest import CONTOSO, CONTOSO_ADMIN
from tests.e2e.test_browser_journeys import chromium, contoso, log_in, page, shot  # noqa: F401
from tests.integrations.fakes import FakeDirectory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def mapped_contoso(contoso):  # noqa: F811
    """Contoso connected and mapped, with a directory of people and mailboxes (no network)."""
    milan = Site.objects.get(customer=contoso, name="Milan")
    connection = AzureConnection.objects.create(
        customer=contoso, tenant_id="525b6c55-3da5-4253-a683-5aac155e4a8c", tenant_name="Contoso Ltd"
    )
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=milan)
    directory = FakeDirectory(page_size=50)
    for n in range(12):
        directory.add(
            givenName=f"Person{n}",
            surname="Rossi",
            jobTitle="Analyst",
            mail=f"person{n}@contoso.com",
            officeLocation="Milan HQ",
        )
    for purpose, name in (
        ("shared", "Accounts Milan"),
        ("room", "Room Milan HQ 1.04"),
        ("equipment", "Projector"),
    ):
        directory.add(
            purpose=purpose,
            displayName=name,
            mail=f"{purpose}.milan.with.a.rather.long.address@contoso.onmicrosoft.com",
            officeLocation="Milan HQ",
            accountEnabled=False,
            assignedLicenses=[],
        )
    return connection, directory


def test_a_run_that_finishes_before_the_first_poll_shows_its_final_state(mapped_contoso, live_server, page):  # noqa: F811
    connection, directory = mapped_contoso
    run = SyncRun.queue(connection, trigger=SyncRun.Trigger.MANUAL)
    held = []

    def finish_the_run_before_answering(route):
        # The page was rendered while the run was queued; it ends before the first poll is answered.
        if not held:
            held.append(
                run_sync(connection, trigger=SyncRun.Trigger.MANUAL, run=run, client_factory=directory)
            )
        route.continue_()

    page.route(re.compile(r".*/progress\.json$"), finish_the_run_before_answering)
    log_in(page, live_server, "contoso-admin", "admin-pass-123")
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"{live_server.url}/integrations/azure/customers/{connection.customer_id}/runs/{run.pk}/")
    page.wait_for_selector('[data-rendered-status="succeeded"]')

    run.refresh_from_db()
    assert held and run.status == SyncRun.Status.SUCCEEDED and run.created == 15
    text = page.inner_text("main")
    assert "Waiting for a worker" not in text
    assert page.inner_text('[data-text="finished"]') != "—"
    assert re.fullmatch(r"\d+\.\d s", page.inner_text('[data-text="duration"]'))
    assert page.inner_text('[data-count="created"]') == "15"
    assert page.inner_text('[data-count="compared"]') == "15"
    assert page.inner_text("[data-status]") == "Succeeded"
    shot(page, "run-finished-before-first-poll")


def test_a_member_who_opens_the_mapping_editor_gets_the_styled_403_page(contoso, live_server, page):  # noqa: F811
    member = User.objects.create_user("contoso-user", password="user-pass-123")
    Membership.objects.create(user=member, customer=contoso, role="member")
    AzureConnection.objects.create(customer=contoso, tenant_id="525b6c55-3da5-4253-a683-5aac155e4a8c")

    log_in(page, live_server, "contoso-user", "user-pass-123")
    page.wait_for_url(re.compile(r"/$"))
    response = page.goto(f"{live_server.url}/integrations/azure/customers/{contoso.pk}/mapping/")

    assert response.status == 403
    assert page.inner_text("h1") == "You do not have permission to do this"
    assert "administrator of this customer" in page.inner_text("main")
    assert page.locator(".topbar .brand").count() == 1  # the portal's own layout, not a bare page
    page.click("text=Back to your customers")
    page.wait_for_selector("text=Contoso Ltd")
    page.go_back()
    shot(page, "member-403")


def test_a_site_page_is_usable_at_phone_width(mapped_contoso, live_server, chromium):  # noqa: F811
    connection, directory = mapped_contoso
    run_sync(connection, trigger=SyncRun.Trigger.INITIAL, client_factory=directory)
    milan = Site.objects.get(customer=connection.customer, name="Milan")
    assert Contact.objects.filter(site=milan).count() == 15

    context = chromium.new_context(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True
    )
    phone = context.new_page()
    try:
        log_in(phone, live_server, "contoso-admin", "admin-pass-123")
        phone.wait_for_url(re.compile(r"/$"))
        phone.goto(f"{live_server.url}/customers/{connection.customer_id}/sites/{milan.pk}/")
        phone.wait_for_selector("table.contacts tbody tr")

        page_width = phone.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 375, f"the page is {page_width}px wide on a 375px screen"
        for badge in ("shared mailbox", "room mailbox", "equipment mailbox"):
            assert phone.locator(f".badge:has-text('{badge}')").count() == 1
        assert phone.locator("text=Accounts Milan").count() == 1  # a mailbox has its display name
        shot(phone, "site-375px")

        for path in (
            f"/integrations/azure/customers/{connection.customer_id}/",
            f"/integrations/azure/customers/{connection.customer_id}/audit/",
            f"/integrations/azure/customers/{connection.customer_id}/runs/",
            f"/customers/{connection.customer_id}/contacts/{Contact.objects.get(mailbox_purpose='room').pk}/",
        ):
            phone.goto(f"{live_server.url}{path}")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} is {width}px wide on a 375px screen"
        shot(phone, "contact-375px")
    finally:
        context.close()


def test_the_demo_sign_in_page_is_plain_http_and_the_connection_still_completes(
    contoso,  # noqa: F811
    live_server,
    page,  # noqa: F811
    settings,
):
    sim = start_simulator(users=30, seed=1, tenants=3, browser_port=0)
    try:
        for name, value in sim.settings().items():
            setattr(settings, name, value)
        tokens.reset_token_cache()
        log_in(page, live_server, "contoso-admin", "admin-pass-123")
        page.wait_for_url(re.compile(r"/$"))
        page.click("text=Contoso Ltd")
        page.click("text=Milan")
        page.click("button:has-text('Import from Azure AD')")

        page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/organizations/oauth2/v2\.0/authorize"))
        assert page.url.startswith(sim.simulator.browser_base_url)  # no certificate for a browser to doubt
        shot(page, "simulator-sign-in-http")
        page.click(f'button[data-login="{CONTOSO_ADMIN}"]')
        page.wait_for_url(re.compile(r"/integrations/azure/confirm/"))
        page.click("#confirm-tenant-button")
        page.wait_for_url(re.compile(r"/adminconsent"))
        assert page.url.startswith(sim.simulator.browser_base_url)  # the consent page too
        page.click('button[data-action="accept"]')
        page.wait_for_url(re.compile(r"/integrations/azure/customers/\d+/mapping/"))

        assert AzureConnection.objects.get(customer=contoso).tenant_id == CONTOSO
    finally:
        tokens.reset_token_cache()
        sim.stop()
