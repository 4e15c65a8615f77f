"""Italian in a real Chromium: a browser that prefers Italian gets the portal in
Italian, and the language switch changes it. Saves the Italian management page
as test-artifacts/screenshots/management-page-it.png (the README's figure)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from portal.customers.models import Contact, Customer, Membership, Site
from tests.e2e.test_browser_journeys import SHOTS, TIMEOUT_MS, chromium, log_in  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def italian_page(chromium):  # noqa: F811 (the imported fixture)
    # `locale` sets the browser's Accept-Language, as an Italian user's browser would.
    context = chromium.new_context(locale="it-IT", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def connected_contoso(db):
    """Contoso with a connected tenant, a mapping and a few finished runs."""
    customer = Customer.objects.create(name="Contoso Ltd", plan="enterprise")
    milan = Site.objects.create(customer=customer, name="Milano")
    rome = Site.objects.create(customer=customer, name="Roma")
    admin = User.objects.create_user("contoso-admin", password="admin-pass-123")
    Membership.objects.create(user=admin, customer=customer, role="admin")
    now = timezone.now()
    connection = AzureConnection.objects.create(
        customer=customer,
        tenant_id="525b6c55-3da5-4253-a683-5aac155e4a8c",
        tenant_name="Contoso Ltd",
        connected_by=admin,
        connected_at=now - timedelta(days=2),
        last_sync_at=now - timedelta(hours=1),
        next_sync_at=now + timedelta(hours=11),
    )
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=milan)
    SiteMapping.objects.create(connection=connection, value="Rome", site=rome)
    contact = Contact.objects.create(customer=customer, site=milan, email="giulia.rossi@contoso.com")
    for hours, trigger, created, updated in [
        (49, "initial", 1302, 0),
        (13, "scheduled", 4, 12),
        (1, "manual", 0, 1),
    ]:
        run = SyncRun.queue(connection, trigger=trigger)
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.SUCCEEDED,
            created_at=now - timedelta(hours=hours),
            started_at=now - timedelta(hours=hours),
            finished_at=now - timedelta(hours=hours) + timedelta(seconds=40),
            fetched=created + updated + 420,
            created=created,
            updated=updated,
            unchanged=420,
            skipped=37,
        )
    FieldChange.objects.create(
        run=run,
        customer=customer,
        contact=contact,
        contact_email=contact.email,
        field="job_title",
        old_value="Analyst",
        new_value="Head of Sales",
    )
    return customer


def test_an_italian_browser_gets_the_management_page_in_italian_and_can_switch(
    connected_contoso, live_server, italian_page
):
    page = italian_page
    manage = reverse("integrations:manage", args=[connected_contoso.pk])
    log_in(page, live_server, "contoso-admin", "admin-pass-123", path=manage)
    page.wait_for_url(f"**{manage}")

    assert page.locator("html").get_attribute("lang") == "it"
    assert page.get_by_role("heading", name="Esecuzioni recenti").is_visible()
    assert page.get_by_role("button", name="Sincronizza ora").is_visible()
    assert page.get_by_role("link", name="Modifica mappatura").is_visible()
    assert "Importazione iniziale" in page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "management-page-it.png"), full_page=True)

    # The switch (a POST form) overrides the browser's preference and stays on the page.
    page.get_by_role("button", name="English").click()
    page.wait_for_url(f"**{manage}")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Recent runs").is_visible()
    page.get_by_role("button", name="Italiano").click()
    page.wait_for_url(f"**{manage}")
    assert page.get_by_role("heading", name="Esecuzioni recenti").is_visible()


def test_an_italian_browser_reads_a_runs_warnings_in_italian(connected_contoso, live_server, italian_page):
    """A worker stores warnings as message ids with their values: counts and a record's note
    read in Italian (saved as test-artifacts/screenshots/run-warnings-it.png)."""
    from integrations.reasons import RECORD_NOTE, message
    from integrations.sync.classify import FALLBACK_WARNING, UNCLASSIFIED_WARNING
    from integrations.values import clean_text

    run = SyncRun.objects.filter(customer=connected_contoso).latest("created_at")
    run.warnings = [
        FALLBACK_WARNING,
        message(UNCLASSIFIED_WARNING, count=2),
        message(
            RECORD_NOTE,
            user="3f2a0c7e-0000-4000-8000-000000000042",
            note=clean_text("job_title", "x" * 200)[1],
        ),
    ]
    run.save(update_fields=["warnings"])
    page = italian_page
    path = reverse("integrations:run", args=[connected_contoso.pk, run.pk])

    log_in(page, live_server, "contoso-admin", "admin-pass-123", path=path)
    page.wait_for_url(f"**{path}")

    assert page.get_by_role("heading", name="Avvisi").is_visible()
    assert page.get_by_text("MailboxSettings.Read non è concessa").is_visible()
    assert page.get_by_text("Account disattivati che non è stato possibile classificare: 2").is_visible()
    assert page.get_by_text("job_title superava i 128 caratteri ed è stato accorciato").is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "run-warnings-it.png"), full_page=True)


def test_an_italian_browser_reads_an_undos_conflicts_in_italian(connected_contoso, live_server, italian_page):
    """An undo executed by an English-speaking worker stores each conflict's reason as a message:
    the Italian reader gets it in Italian (saved as test-artifacts/screenshots/undo-conflicts-it.png)."""
    from django.utils import translation

    from integrations.services.undo import execute_undo, undo_start

    run = SyncRun.objects.filter(customer=connected_contoso).latest("created_at")
    Contact.objects.filter(email="giulia.rossi@contoso.com").update(job_title="Edited by hand")
    with translation.override("en"):
        undo = execute_undo(undo_start(run=run, requested_by=None, hand_to_worker=False))
    assert undo.status == SyncRun.Status.SUCCEEDED and undo.preview["conflict_count"] == 1
    page = italian_page
    path = reverse("integrations:run", args=[connected_contoso.pk, undo.pk])

    log_in(page, live_server, "contoso-admin", "admin-pass-123", path=path)
    page.wait_for_url(f"**{path}")

    report = page.locator("#undo-report")
    assert (
        "giulia.rossi@contoso.com — Qualifica: nel frattempo cambiato in “Edited by hand”"
        in report.inner_text()
    )
    assert "Conflitti lasciati invariati: 1" in report.inner_text()  # reads right for any count
    assert "changed since" not in page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "undo-conflicts-it.png"), full_page=True)
