"""Client-credentials tokens: only for consented tenants, with the consented roles."""

from __future__ import annotations

import datetime
import time

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from microsoft_simulator.testing import running_simulator, session_for
from tests.simulator.helpers import CONTOSO, FABRIKAM, GRAPH_SCOPE, msal_app


def _claims(result: dict) -> dict:
    return jwt.decode(result["access_token"], options={"verify_signature": False})


def _post(sim, http, tenant, **data):
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "scope": GRAPH_SCOPE[0],
        **data,
    }
    return http.post(f"{sim.base_url}/{tenant}/oauth2/v2.0/token", data=form)


def test_it_issues_an_app_token_with_roles_for_a_consented_tenant(sim, http):
    result = msal_app(sim, http, CONTOSO).acquire_token_for_client(scopes=GRAPH_SCOPE)

    claims = _claims(result)
    assert claims["tid"] == CONTOSO
    assert claims["roles"] == ["User.Read.All", "MailboxSettings.Read"]
    assert claims["appid"] == sim.client_id
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["idtyp"] == "app"


def test_it_refuses_a_tenant_that_has_not_consented_with_aadsts700016(sim, http):
    result = msal_app(sim, http, FABRIKAM).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]
    assert result["error_description"].startswith(
        f"AADSTS700016: Application with identifier '{sim.client_id}' was not found in the directory 'Fabrikam Inc'."
    )
    raw = _post(sim, http, FABRIKAM)
    assert raw.status_code == 400
    assert set(raw.json()) >= {"error", "error_description", "error_codes", "trace_id", "correlation_id"}


def test_it_rejects_a_wrong_client_secret_with_401_invalid_client(sim, http):
    response = _post(sim, http, CONTOSO, client_secret="nope")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_codes"] == [7000215]


def test_it_rejects_an_unknown_client_id(sim, http):
    response = _post(sim, http, CONTOSO, client_id="11111111-1111-4111-8111-111111111111")

    assert response.status_code == 400
    assert response.json()["error_codes"] == [700016]


def test_it_answers_an_unknown_tenant_with_aadsts90002(sim, http):
    response = _post(sim, http, "00000000-0000-4000-8000-000000000000")

    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_it_requires_a_default_scope(sim, http):
    response = _post(sim, http, CONTOSO, scope="https://graph.microsoft.com/User.Read.All")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_consent_roles_knob_grants_only_user_read_all(sim, http):
    sim.set_knobs(consent_roles="User.Read.All")
    sim.apply("grant_consent", tenant=FABRIKAM)

    result = msal_app(sim, http, FABRIKAM).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert _claims(result)["roles"] == ["User.Read.All"]


def test_consent_propagation_delay_issues_tokens_without_roles_at_first(sim, http):
    sim.set_knobs(consent_propagation_seconds=0.5)
    sim.apply("grant_consent", tenant=FABRIKAM)
    app = msal_app(sim, http, FABRIKAM)

    early = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    time.sleep(0.6)
    app.remove_tokens_for_client()
    later = app.acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert "roles" not in _claims(early)
    assert _claims(later)["roles"] == ["User.Read.All", "MailboxSettings.Read"]


def test_token_lifetime_knob_sets_expires_in(sim, http):
    sim.set_knobs(token_lifetime_seconds=60)

    body = _post(sim, http, CONTOSO).json()

    assert body["expires_in"] == 60
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def _certificate() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("registered", [True, False], ids=["registered-certificate", "other-certificate"])
def test_it_verifies_client_assertions_against_the_registered_certificate(registered):
    key_pem, cert_pem = _certificate()
    _, other_cert = _certificate()
    with running_simulator(
        users=5, consented=[CONTOSO], client_certificate_pem=cert_pem if registered else other_cert
    ) as sim:
        http = session_for(sim)
        credential = {"private_key": key_pem.decode(), "public_certificate": cert_pem.decode()}

        result = msal_app(sim, http, CONTOSO, client_credential=credential).acquire_token_for_client(
            scopes=GRAPH_SCOPE
        )

    if registered:
        assert _claims(result)["appidacr"] == "2"
    else:
        assert result["error"] == "invalid_client"
        assert result["error_codes"] == [700027]


def test_the_ca_bundle_is_a_ca_certificate_not_the_server_leaf(sim):
    cert = x509.load_pem_x509_certificate(sim.ca_path.read_bytes())

    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
