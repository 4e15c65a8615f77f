"""Who signs in at the simulator and what their ID token says: `wids` for
administrators only, ordinary users, a partner's guest administrator on a named
tenant, verified domains, and the ID-token knobs the portal's tests use."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from microsoft_simulator.catalog import GLOBAL_ADMINISTRATOR, GUEST_USER_ROLE, MEMBER_USER_ROLE
from microsoft_simulator.pages import ordinary_user
from microsoft_simulator.testing import sign_in
from tests.simulator.helpers import CONTOSO, FABRIKAM, REDIRECT_URI, msal_app

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

CONTOSO_ADMIN = "MeganB@contoso.onmicrosoft.com"


def signed_in(sim, http, login: str, authority: str = "organizations") -> dict:
    app = msal_app(sim, http, authority)
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=REDIRECT_URI)
    callback = sign_in(http, flow["auth_uri"], login)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    return app.acquire_token_by_auth_code_flow(flow, query)


def test_an_administrator_gets_the_global_administrator_role_in_wids(sim, http):
    claims = signed_in(sim, http, CONTOSO_ADMIN)["id_token_claims"]

    assert claims["wids"] == [GLOBAL_ADMINISTRATOR, MEMBER_USER_ROLE]
    assert claims["tid"] == CONTOSO and "idp" not in claims


def test_an_ordinary_user_can_sign_in_and_holds_only_the_member_role(sim, http):
    user = ordinary_user(sim.state.directories[CONTOSO])

    claims = signed_in(sim, http, user.userPrincipalName)["id_token_claims"]

    assert claims["wids"] == [MEMBER_USER_ROLE]
    assert claims["preferred_username"] == user.userPrincipalName


def test_the_picker_offers_an_ordinary_user_and_on_a_named_tenant_the_partners_guest_admin(sim, http):
    app = msal_app(sim, http, FABRIKAM)
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=REDIRECT_URI)

    page = http.get(flow["auth_uri"]).text

    assert 'data-role="user"' in page and 'data-role="admin"' in page
    assert f'data-login="{CONTOSO_ADMIN}" data-tenant="{CONTOSO}" data-role="guest-admin"' in page
    assert 'name="login" type="email"' in page  # "Use another account"


def test_a_guest_administrator_on_a_named_tenant_gets_that_tenants_token(sim, http):
    result = signed_in(sim, http, CONTOSO_ADMIN, authority="fabrikam.com")

    claims = result["id_token_claims"]
    assert claims["tid"] == FABRIKAM
    assert claims["iss"] == f"{sim.base_url}/{FABRIKAM}/v2.0"
    assert claims["wids"] == [GLOBAL_ADMINISTRATOR, GUEST_USER_ROLE]
    assert claims["idp"] == f"https://sts.windows.net/{CONTOSO}/"
    organization = http.get(
        f"{sim.graph_url}/organization", headers={"Authorization": f"Bearer {result['access_token']}"}
    ).json()["value"][0]
    assert organization["id"] == FABRIKAM
    assert "fabrikam.com" in {d["name"] for d in organization["verifiedDomains"]}


def test_an_ordinary_user_of_another_tenant_cannot_sign_in_to_a_named_tenant(sim, http):
    app = msal_app(sim, http, FABRIKAM)
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=REDIRECT_URI)
    user = ordinary_user(sim.state.directories[CONTOSO])
    page = http.get(flow["auth_uri"])
    ctx = page.text.split('name="ctx" value="', 1)[1].split('"', 1)[0]

    answer = http.post(page.url, data={"ctx": ctx, "login": user.userPrincipalName}, allow_redirects=False)

    assert answer.status_code == 400 and "AADSTS50020" in answer.text


def test_without_the_directory_roles_setting_the_id_token_has_no_wids(sim, http):
    sim.set_knobs(id_token_wids=False)

    assert "wids" not in signed_in(sim, http, CONTOSO_ADMIN)["id_token_claims"]


@pytest.mark.parametrize("fault", ["wrong_aud", "foreign_iss", "expired", "bad_signature"])
def test_the_id_token_fault_knob_makes_a_token_that_fails_validation(sim, http, fault):
    sim.set_knobs(id_token_fault=fault)
    raw = signed_in(sim, http, CONTOSO_ADMIN)["id_token"]
    key = jwt.PyJWKSet.from_dict(http.get(f"{sim.base_url}/{CONTOSO}/discovery/v2.0/keys").json()).keys[0]

    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(
            raw, key, algorithms=["RS256"], audience=sim.client_id, issuer=f"{sim.base_url}/{CONTOSO}/v2.0"
        )
