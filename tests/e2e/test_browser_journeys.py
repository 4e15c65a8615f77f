"""The user journeys in a real Chromium, against the live portal, a real
django-q2 worker and the local Microsoft simulator. Screenshots of the main
pages are saved in test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from integrations.models import AzureConnection, FieldChange, SyncRun
from portal.customers.models import Contact, Customer, Membership, Site
from tests.e2e.conftest import CONTOSO, CONTOSO_ADMIN, ROOT

FABRIKAM_ADMIN = "AdeleV@fabrikam.onmicrosoft.com"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (REQUIRE_BROWSER is set) but not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own
    # ORM calls are still synchronous, which Django must be told is fine.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(chromium):
    # The simulator's certificate comes from a throwaway CA the browser does not know.
    context = chromium.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    # Every page runs under the strict CSP: a blocked script, style or frame is
    # a bug. Chromium reports each one as a console error and as an event.
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    tab = context.new_page()
    violations: list[str] = []
    tab.on("console", lambda message: _record_csp_violation(violations, message.text))
    yield tab
    context.close()
    assert violations == [], "Content-Security-Policy violations in the browser"


_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI
    + " on " + event.documentURI);
});
"""


def _record_csp_violation(violations: list[str], text: str) -> None:
    if "CSP violation" in text or "Content Security Policy" in text:
        violations.append(text)


def shot(page, name: str, *, docs: bool = False) -> None:
    """Save a screenshot in test-artifacts/ (and in docs/screenshots/ for the README)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if docs:
        shutil.copyfile(SHOTS / f"{name}.png", DOC_SHOTS / f"{name}.png")


def log_in(page, live_server, username: str, password: str, path: str = "/") -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit], input[type=submit]")


@pytest.fixture
def contoso(db):
    customer = Customer.objects.create(name="Contoso Ltd", plan="enterprise")
    Site.objects.create(customer=customer, name="Milan")
    admin = User.objects.create_user("contoso-admin", password="admin-pass-123")
    Membership.objects.create(user=admin, customer=customer, role="admin")
    return customer


@pytest.fixture
def running_portal(portal_on_simulator, worker_factory, live_server):
    """The live portal and a real worker, both talking to the simulator."""
    worker = worker_factory(portal_on_simulator.settings())
    return portal_on_simulator, worker


def test_a_customer_admin_imports_from_azure_ad_and_reviews_the_result(
    running_portal, contoso, live_server, page
):
    _sim, worker = running_portal
    log_in(page, live_server, "contoso-admin", "admin-pass-123")
    page.click("text=Contoso Ltd")
    page.click("text=Milan")
    shot(page, "01-site-before-import")

    page.click("button:has-text('Import from Azure AD')")
    page.wait_for_url(re.compile(r"https://127\.0\.0\.1:\d+/organizations/oauth2/v2\.0/authorize"))
    shot(page, "02-microsoft-sign-in")
    page.click(f'button[data-login="{CONTOSO_ADMIN}"][data-role="admin"]')
    page.wait_for_url(re.compile(r"/integrations/azure/confirm/"))
    assert "Contoso Ltd" in page.inner_text("#confirm-tenant")
    assert "contoso.com" in page.inner_text("#confirm-domains")
    assert page.locator("#domain-warning").count() == 0
    shot(page, "consent-confirmation", docs=True)
    assert not AzureConnection.objects.filter(customer=contoso).exists()  # nothing before confirming
    page.click("#confirm-tenant-button")
    page.wait_for_url(re.compile(r"/adminconsent"))
    page.click('button[data-action="accept"]')

    page.wait_for_url(re.compile(r"/integrations/azure/customers/\d+/mapping/"))
    page.wait_for_selector("select[name=target-0]", timeout=TIMEOUT_MS)  # after the directory read
    connection = AzureConnection.objects.get(customer=contoso)
    assert connection.tenant_id == CONTOSO
    mapping_url = page.url

    # Back to Microsoft's consent page and Accept again: the same flow, already completed.
    page.go_back()
    page.wait_for_url(re.compile(r"/adminconsent"))
    page.click('button[data-action="accept"]')
    page.wait_for_url(re.compile(r"/integrations/azure/customers/\d+/$"))
    assert "already connected" in page.inner_text("main")
    assert "does not belong to your session" not in page.content()
    shot(page, "second-accept-already-connected", docs=True)
    assert AzureConnection.objects.filter(customer=contoso).count() == 1
    page.goto(mapping_url)
    page.wait_for_selector("select[name=target-0]", timeout=TIMEOUT_MS)

    rows = page.locator("input[name^=value-]").count()
    assert rows > 1
    for index in range(rows):
        value = page.locator(f"input[name=value-{index}]").get_attribute("value")
        target = (
            str(Site.objects.get(customer=contoso, name="Milan").pk)
            if "milan" in value.lower()
            else "__new__"
        )
        page.select_option(f"select[name=target-{index}]", target)
    page.click("button[value=preview]")
    page.wait_for_selector("#preview")
    assert re.search(r"create \d+", page.inner_text("#preview"))
    shot(page, "03-mapping-preview")

    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    page.wait_for_selector("[data-status]:has-text('Succeeded')", timeout=TIMEOUT_MS)
    shot(page, "04-run-finished")
    run = SyncRun.objects.filter(customer=contoso, dry_run=False).latest("created_at")
    assert run.status == "succeeded", (run.error, worker.output()[-2000:])
    assert run.created > 0

    page.goto(
        f"{live_server.url}/customers/{contoso.pk}/sites/{Site.objects.get(customer=contoso, name='Milan').pk}/"
    )
    assert page.locator("table tbody tr").count() >= 1
    shot(page, "05-site-with-contacts")

    page.goto(f"{live_server.url}/integrations/azure/customers/{contoso.pk}/")
    assert "Sync now" in page.content()
    shot(page, "06-management-page")

    page.click("text=Review the audit log")
    # A click only waits for the navigation to start; the rows come with the new page.
    page.wait_for_url(re.compile(r"/integrations/azure/customers/\d+/audit/"))
    page.wait_for_selector("table tbody tr", timeout=TIMEOUT_MS)
    assert page.locator("table tbody tr").count() >= 1
    shot(page, "07-audit-log")
    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    exported = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][:4] == ["changed_at", "run", "contact_email", "field"]
    assert len(rows) - 1 == FieldChange.objects.filter(customer=contoso).count()
    assert Contact.objects.filter(customer=contoso).count() == run.created


def test_staff_sync_now_and_disconnect_in_the_admin(running_portal, contoso, live_server, page):
    sim, _worker = running_portal
    sim.apply("grant_consent", tenant=CONTOSO)
    connection = AzureConnection.objects.create(
        customer=contoso, tenant_id=CONTOSO, tenant_name="Contoso Ltd"
    )
    staff = User.objects.create_user("tech", password="tech-pass-123", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="manage_azure"),
        *Permission.objects.filter(
            content_type__app_label__in=["customers", "integrations"], codename__startswith="view_"
        ),
        *Permission.objects.filter(content_type__app_label="customers"),
    )

    log_in(page, live_server, "tech", "tech-pass-123", "/admin/customers/customer/")
    page.wait_for_url(re.compile(r"/admin/customers/customer/"))
    page.check(f"input[name=_selected_action][value='{contoso.pk}']")
    page.select_option("select[name=action]", "azure_sync_now")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert (
        "started" in page.inner_text(".messagelist").lower()
        or "queued" in page.inner_text(".messagelist").lower()
    )
    shot(page, "08-admin-sync-now")
    assert SyncRun.objects.filter(connection=connection, trigger="manual").exists()

    page.check(f"input[name=_selected_action][value='{contoso.pk}']")
    page.select_option("select[name=action]", "azure_disconnect")
    page.click("button[name=index]")
    page.wait_for_selector("text=Yes, disconnect")
    assert "Enterprise applications" in page.content()
    shot(page, "09-admin-disconnect-confirmation")
    assert AzureConnection.objects.filter(pk=connection.pk).exists()  # nothing happens before confirming
    page.click("input[value='Yes, disconnect']")
    page.wait_for_selector(".messagelist")
    assert not AzureConnection.objects.filter(pk=connection.pk).exists()
    assert Customer.objects.filter(pk=contoso.pk).exists()


def test_signing_in_with_another_tenants_admin_warns_before_anything_is_bound(
    portal_on_simulator, contoso, live_server, page
):
    site = Site.objects.get(customer=contoso, name="Milan")
    Contact.objects.create(customer=contoso, site=site, email="ada.lovelace@contoso.com", first_name="Ada")
    log_in(
        page, live_server, "contoso-admin", "admin-pass-123", f"/integrations/azure/customers/{contoso.pk}/"
    )

    page.click("button:has-text('Import from Azure AD')")
    page.wait_for_url(re.compile(r"/organizations/oauth2/v2\.0/authorize"))
    page.click(f'button[data-login="{FABRIKAM_ADMIN}"][data-role="admin"]')  # the wrong tenant's admin
    page.wait_for_url(re.compile(r"/integrations/azure/confirm/"))

    warning = page.locator("#domain-warning")
    assert warning.is_visible()
    assert "Fabrikam Inc" in page.inner_text("#confirm-tenant")
    shot(page, "consent-domain-warning", docs=True)
    page.click("#cancel-tenant-button")
    page.wait_for_selector("text=Nothing was connected")
    assert page.locator("button:has-text('Start again')").count() == 1
    assert not AzureConnection.objects.exists()
