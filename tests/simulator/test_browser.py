"""The Microsoft pages in a real Chromium: pick an account, accept consent, form_post."""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs, urlsplit

import pytest

from microsoft_simulator.testing import admin_consent_url
from tests.simulator.helpers import CONTOSO, FABRIKAM, REDIRECT_URI, msal_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended"),
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    # TLS verification is proven by the requests/MSAL tests; the browser only needs the pages.
    context = browser.new_context(ignore_https_errors=True)
    tab = context.new_page()
    tab.route(f"{REDIRECT_URI}**", lambda route: route.fulfill(status=200, body="portal callback"))
    yield tab
    context.close()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_browser_signs_in_by_clicking_the_tenant_admin(sim, http, page):
    flow = msal_app(sim, http, "organizations").initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)

    page.goto(flow["auth_uri"])
    page.click('button[data-login="AdeleV@fabrikam.onmicrosoft.com"]')
    page.wait_for_url(f"{REDIRECT_URI}**")

    query = _query(page.url)
    assert query["state"] == flow["state"]
    result = msal_app(sim, http, "organizations").acquire_token_by_auth_code_flow(flow, query)
    assert result["id_token_claims"]["tid"] == FABRIKAM


def test_a_browser_accepts_admin_consent(sim, page):
    page.goto(admin_consent_url(sim, FABRIKAM, REDIRECT_URI, state="abc"))
    page.click('button[data-action="accept"]')
    page.wait_for_url(f"{REDIRECT_URI}**")

    assert _query(page.url)["admin_consent"] == "True"
    assert sim.state.roles_for(FABRIKAM)


def test_form_post_mode_posts_the_code_to_the_callback(sim, http, page):
    posted = []
    page.route(f"{REDIRECT_URI}**", lambda route: (posted.append(route.request), route.fulfill(body="ok")))
    flow = msal_app(sim, http, CONTOSO).initiate_auth_code_flow(
        scopes=[], redirect_uri=REDIRECT_URI, response_mode="form_post"
    )

    page.goto(flow["auth_uri"])
    page.click('button[data-login="MeganB@contoso.onmicrosoft.com"]')
    page.wait_for_url(f"{REDIRECT_URI}**")

    assert posted[-1].method == "POST"
    form = {k: v[0] for k, v in parse_qs(posted[-1].post_data).items()}
    assert form["state"] == flow["state"]
    assert form["code"]
