"""OpenID discovery and JWKS: what MSAL reads before any token request."""

from __future__ import annotations

import jwt
import pytest

from microsoft_simulator.testing import app_token
from tests.simulator.helpers import CONTOSO, GRAPH_SCOPE, msal_app


def test_it_serves_tenant_discovery_on_its_own_host(sim, http):
    response = http.get(f"{sim.base_url}/{CONTOSO}/v2.0/.well-known/openid-configuration")

    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == f"{sim.base_url}/{CONTOSO}/v2.0"
    assert config["token_endpoint"] == f"{sim.base_url}/{CONTOSO}/oauth2/v2.0/token"
    assert config["authorization_endpoint"] == f"{sim.base_url}/{CONTOSO}/oauth2/v2.0/authorize"
    assert config["jwks_uri"] == f"{sim.base_url}/{CONTOSO}/discovery/v2.0/keys"


def test_it_resolves_a_domain_name_to_the_tenant_id(sim, http):
    config = http.get(f"{sim.base_url}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()

    assert config["token_endpoint"] == f"{sim.base_url}/{CONTOSO}/oauth2/v2.0/token"


def test_it_serves_organizations_and_common_with_a_templated_issuer(sim, http):
    for tenant in ("organizations", "common"):
        config = http.get(f"{sim.base_url}/{tenant}/v2.0/.well-known/openid-configuration").json()

        assert config["issuer"] == f"{sim.base_url}/{{tenantid}}/v2.0"
        assert config["authorization_endpoint"] == f"{sim.base_url}/{tenant}/oauth2/v2.0/authorize"


def test_it_answers_an_unknown_tenant_with_aadsts90002(sim, http):
    response = http.get(
        f"{sim.base_url}/00000000-0000-4000-8000-000000000000/v2.0/.well-known/openid-configuration"
    )

    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_msal_refuses_an_unknown_tenant_authority(sim, http):
    with pytest.raises(ValueError, match="authority configuration"):
        msal_app(sim, http, "00000000-0000-4000-8000-000000000000")


def test_the_jwks_verifies_issued_tokens(sim, http):
    token = app_token(sim, CONTOSO, http)
    keys = http.get(f"{sim.base_url}/{CONTOSO}/discovery/v2.0/keys").json()["keys"]

    header = jwt.get_unverified_header(token)
    key = next(k for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="https://graph.microsoft.com"
    )
    assert header["alg"] == "RS256"
    assert claims["tid"] == CONTOSO


def test_msal_discovers_and_acquires_over_verified_tls(sim, http):
    result = msal_app(sim, http, CONTOSO).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert "access_token" in result, result
