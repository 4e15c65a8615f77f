"""OpenID Connect sign-in: MSAL's auth-code flow with PKCE against the account picker."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from microsoft_simulator.testing import cancel_sign_in, sign_in
from tests.simulator.helpers import CONTOSO, FABRIKAM, REDIRECT_URI, msal_app

# MSAL nudges towards form_post; the query mode is what most tests exercise.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


def _query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {k: v[0] for k, v in parse_qs(parts.query or parts.fragment).items()}


def _redeem(sim, http, flow, query, **changes):
    token_url = f"{sim.base_url}/organizations/oauth2/v2.0/token"
    data = {
        "grant_type": "authorization_code",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "code": query["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow["code_verifier"],
        **changes,
    }
    return http.post(token_url, data=data)


@pytest.fixture
def signin(sim, http):
    return msal_app(sim, http, "organizations")


def test_msal_auth_code_flow_gives_id_token_claims_with_tid_and_nonce(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    callback = sign_in(http, flow["auth_uri"], "AdeleV@fabrikam.onmicrosoft.com")
    query = _query(callback)

    result = signin.acquire_token_by_auth_code_flow(flow, query)

    assert callback.startswith(REDIRECT_URI)
    assert query["state"] == flow["state"]
    claims = result["id_token_claims"]
    assert claims["tid"] == FABRIKAM
    assert claims["aud"] == sim.client_id
    assert claims["iss"] == f"{sim.base_url}/{FABRIKAM}/v2.0"
    assert claims["preferred_username"] == "AdeleV@fabrikam.onmicrosoft.com"
    assert claims["name"] == "Adele Vance"
    assert claims["oid"] == sim.state.directories[FABRIKAM].spec.admin_id
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert {"exp", "iat", "nbf"} <= set(claims)


def test_msal_rejects_an_id_token_whose_nonce_differs(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    query = _query(sign_in(http, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com"))
    flow["nonce"] = "tampered"

    with pytest.raises(RuntimeError, match="nonce"):
        signin.acquire_token_by_auth_code_flow(flow, query)


def test_the_picker_lists_every_tenant_admin_for_organizations(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)

    page = http.get(flow["auth_uri"]).text

    for spec in sim.tenants:
        assert f'data-login="{spec.admin_upn}"' in page


def test_a_tenant_authority_lists_only_that_tenants_admin(sim, http):
    app = msal_app(sim, http, CONTOSO)
    flow = app.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)

    page = http.get(flow["auth_uri"]).text

    assert 'data-login="MeganB@contoso.onmicrosoft.com"' in page
    assert "AdeleV@" not in page


def test_a_wrong_pkce_verifier_is_rejected(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    query = _query(sign_in(http, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com"))

    response = _redeem(sim, http, flow, query, code_verifier="x" * 50)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_codes"] == [501481]


def test_a_code_cannot_be_redeemed_twice(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    query = _query(sign_in(http, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com"))

    first = _redeem(sim, http, flow, query)
    second = _redeem(sim, http, flow, query)

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error_codes"] == [54005]


def test_the_redirect_uri_must_match_the_authorize_request(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    query = _query(sign_in(http, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com"))

    response = _redeem(sim, http, flow, query, redirect_uri="https://evil.example/callback")

    assert response.status_code == 400
    assert response.json()["error_codes"] == [500112]


def test_redeeming_requires_the_client_secret(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    query = _query(sign_in(http, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com"))

    response = _redeem(sim, http, flow, query, client_secret="")

    assert response.status_code == 401
    assert response.json()["error_codes"] == [7000218]


def test_cancel_redirects_with_access_denied_and_the_state(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)

    query = _query(cancel_sign_in(http, flow["auth_uri"]))

    assert query["error"] == "access_denied"
    assert query["state"] == flow["state"]


def test_form_post_response_mode_posts_code_and_state(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI, response_mode="form_post")
    page = http.get(flow["auth_uri"]).text
    ctx = page.split('name="ctx" value="')[1].split('"')[0]

    answer = http.post(
        f"{sim.base_url}/organizations/oauth2/v2.0/authorize",
        data={"ctx": ctx, "login": "MeganB@contoso.onmicrosoft.com"},
        allow_redirects=False,
    )

    assert answer.status_code == 200
    assert f'action="{REDIRECT_URI}"' in answer.text
    assert 'name="code"' in answer.text
    assert f'name="state" value="{flow["state"]}"' in answer.text


def test_a_disabled_user_cannot_sign_in(sim, http, signin):
    leaver = next(
        u
        for u in sim.state.directories[CONTOSO].users.values()
        if not u.accountEnabled and u.purpose == "user"
    )
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    page = http.get(flow["auth_uri"]).text
    ctx = page.split('name="ctx" value="')[1].split('"')[0]

    answer = http.post(
        f"{sim.base_url}/organizations/oauth2/v2.0/authorize",
        data={"ctx": ctx, "login": leaver.userPrincipalName},
        allow_redirects=False,
    )

    assert answer.status_code == 400
    assert "AADSTS50057" in answer.text


def test_an_unknown_client_id_gets_an_error_page(sim, http):
    response = http.get(
        f"{sim.base_url}/organizations/oauth2/v2.0/authorize",
        params={"client_id": "nope", "response_type": "code", "redirect_uri": REDIRECT_URI},
    )

    assert response.status_code == 400
    assert "AADSTS700016" in response.text


def test_the_sign_in_access_token_can_read_the_organization_name(sim, http, signin):
    # Delegated User.Read may read /organization (app-only would need Organization.Read.All).
    flow = signin.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=REDIRECT_URI)
    result = signin.acquire_token_by_auth_code_flow(
        flow, _query(sign_in(http, flow["auth_uri"], "AdeleV@fabrikam.onmicrosoft.com"))
    )

    response = http.get(
        f"{sim.graph_url}/organization?$select=displayName",
        headers={"Authorization": f"Bearer {result['access_token']}"},
    )
    users = http.get(f"{sim.graph_url}/users", headers={"Authorization": f"Bearer {result['access_token']}"})

    assert response.json()["value"][0]["displayName"] == "Fabrikam Inc"
    assert users.status_code == 403


def test_a_refresh_token_from_the_sign_in_can_be_redeemed(sim, http, signin):
    flow = signin.initiate_auth_code_flow(scopes=[], redirect_uri=REDIRECT_URI)
    first = signin.acquire_token_by_auth_code_flow(
        flow, _query(sign_in(http, flow["auth_uri"], "MeganB@contoso.onmicrosoft.com"))
    )

    again = signin.acquire_token_by_refresh_token(first["refresh_token"], scopes=[])

    assert again["id_token_claims"]["tid"] == CONTOSO
