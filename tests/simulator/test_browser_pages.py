"""The sign-in and consent pages over plain HTTP (no certificate warning in a real browser),
while discovery, tokens and Graph stay on HTTPS for MSAL and the portal."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from microsoft_simulator.server import RunningSimulator, start_simulator
from microsoft_simulator.testing import GRAPH_DEFAULT_SCOPE, consent, session_for, sign_in
from tests.simulator.helpers import CONTOSO, REDIRECT_URI, msal_app

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(users=20, browser_port=0)
    try:
        yield running
    finally:
        running.stop()


def test_msal_sends_the_browser_to_the_plain_http_sign_in_page_and_redeems_the_code_over_https(sim):
    http = session_for(sim)
    app = msal_app(sim, http, "organizations")
    flow = app.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)

    browser = requests.Session()  # no CA bundle: a browser that does not trust the simulator
    callback = sign_in(browser, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com")
    result = app.acquire_token_by_auth_code_flow(
        flow, {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    )

    assert flow["auth_uri"].startswith(
        f"{sim.simulator.browser_base_url}/organizations/oauth2/v2.0/authorize?"
    )
    assert sim.simulator.browser_base_url.startswith("http://127.0.0.1:")
    assert result["id_token_claims"]["tid"] == CONTOSO
    assert result["id_token_claims"]["iss"] == f"{sim.base_url}/{CONTOSO}/v2.0"  # issuer stays HTTPS


def test_the_admin_consent_page_answers_over_plain_http(sim):
    params = {"client_id": sim.client_id, "scope": GRAPH_DEFAULT_SCOPE, "redirect_uri": REDIRECT_URI}
    url = f"{sim.simulator.browser_base_url}/{CONTOSO}/v2.0/adminconsent?{urlencode(params)}"

    redirect = consent(requests.Session(), url, CONTOSO)

    assert redirect.startswith(REDIRECT_URI) and "admin_consent=True" in redirect


@pytest.mark.parametrize(
    "path",
    [
        "/organizations/v2.0/.well-known/openid-configuration",
        f"/{CONTOSO}/oauth2/v2.0/token",
        "/v1.0/users",
        "/_simulator/state",
    ],
)
def test_tokens_graph_and_the_admin_api_are_never_served_over_plain_http(sim, path):
    response = requests.get(f"{sim.simulator.browser_base_url}{path}", timeout=10)

    assert response.status_code == 404


def test_the_portal_settings_name_the_browser_host_apart_from_the_token_host(sim):
    settings = sim.settings()

    assert settings["AZURE_AUTHORITY_HOST"].startswith("https://")
    assert settings["AZURE_BROWSER_AUTHORITY_HOST"] == sim.simulator.browser_base_url


def test_without_a_browser_port_everything_stays_on_https():
    with start_simulator(users=5) as running:
        assert running.settings()["AZURE_BROWSER_AUTHORITY_HOST"] == running.base_url
