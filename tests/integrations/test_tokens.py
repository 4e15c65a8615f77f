"""The token provider against Entra's real URLs (discovery and token endpoint) through `responses`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from urllib.parse import parse_qs

import pytest
import requests
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from integrations.graph import tokens
from integrations.graph.errors import (
    AppCredentialsError,
    ConsentRequiredError,
    MalformedResponseError,
    MicrosoftError,
    TenantNotFoundError,
    TransientError,
)
from integrations.graph.http import USER_AGENT
from tests.integrations.graph_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOGIN,
    OTHER_TENANT,
    TENANT,
    aad_error,
    add_discovery,
    app_token,
    discovery_url,
    fake_jwt,
    token_body,
    token_url,
)


@pytest.fixture(autouse=True)
def entra_settings(settings):
    settings.AZURE_CLIENT_ID = CLIENT_ID
    settings.AZURE_CLIENT_SECRET = CLIENT_SECRET
    settings.AZURE_CLIENT_CERTIFICATE_PATH = ""
    settings.AZURE_AUTHORITY_HOST = LOGIN
    settings.AZURE_CA_BUNDLE = ""
    tokens.reset_token_cache()
    yield settings
    tokens.reset_token_cache()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def token_posts(rsps, tenant: str = TENANT) -> list:
    return [call for call in rsps.calls if call.request.url == token_url(tenant)]


def assert_safe(error: Exception) -> None:
    text = str(error)
    assert CLIENT_SECRET not in text
    assert "eyJ" not in text


# -- acquisition and caching ------------------------------------------------------------
def test_it_acquires_an_app_token_and_reads_tid_and_roles(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body(roles=["User.Read.All", "MailboxSettings.Read"]))

    token = tokens.get_app_token(TENANT)

    assert token.tenant_id == TENANT
    assert token.roles == {"User.Read.All", "MailboxSettings.Read"}
    assert token.token.count(".") == 2
    assert token.token not in repr(token)
    form = parse_qs(token_posts(rsps)[0].request.body)
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["https://graph.microsoft.com/.default"]
    assert form["client_id"] == [CLIENT_ID]


def test_it_reuses_the_cached_token_without_any_request(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body())
    first = tokens.get_app_token(TENANT)
    calls_after_first = len(rsps.calls)

    second = tokens.get_app_token(TENANT)

    assert len(rsps.calls) == calls_after_first
    assert second.token == first.token


def test_it_builds_one_app_per_tenant_and_discovers_each_once(rsps):
    add_discovery(rsps, TENANT)
    add_discovery(rsps, OTHER_TENANT)
    rsps.post(token_url(TENANT), json=token_body(tid=TENANT))
    rsps.post(token_url(OTHER_TENANT), json=token_body(tid=OTHER_TENANT))

    for _ in range(3):
        assert tokens.get_app_token(TENANT).tenant_id == TENANT
        assert tokens.get_app_token(OTHER_TENANT).tenant_id == OTHER_TENANT

    urls = [call.request.url for call in rsps.calls]
    assert urls.count(discovery_url(TENANT)) == 1
    assert urls.count(discovery_url(OTHER_TENANT)) == 1
    assert len(token_posts(rsps, TENANT)) == 1
    assert len(token_posts(rsps, OTHER_TENANT)) == 1


def test_msal_talks_through_our_session(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body())

    tokens.get_app_token(TENANT)

    for call in rsps.calls:
        assert call.request.headers["User-Agent"] == USER_AGENT
        assert call.request.req_kwargs["timeout"] == (10.0, 60.0)


def test_force_refresh_acquires_a_new_token(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body(uti="first"))
    rsps.post(token_url(), json=token_body(uti="second"))
    first = tokens.get_app_token(TENANT)

    refreshed = tokens.get_app_token(TENANT, force_refresh=True)

    assert len(token_posts(rsps)) == 2
    assert refreshed.token != first.token


def test_force_refresh_is_not_served_msal_s_cached_consent_error(rsps):
    # Right after consent, the first attempt may still fail; MSAL would replay
    # that 400 for 60 s, so a forced refresh must reach Entra again.
    add_discovery(rsps)
    rsps.post(
        token_url(),
        status=400,
        json=aad_error(
            "unauthorized_client", 700016, "Application with identifier was not found in the directory."
        ),
    )
    rsps.post(token_url(), json=token_body())
    with pytest.raises(ConsentRequiredError):
        tokens.get_app_token(TENANT)
    with pytest.raises(ConsentRequiredError):
        tokens.get_app_token(TENANT)  # replayed from MSAL's cache, no request
    assert len(token_posts(rsps)) == 1

    token = tokens.get_app_token(TENANT, force_refresh=True)

    assert token.tenant_id == TENANT
    assert len(token_posts(rsps)) == 2


def test_forget_tenant_drops_the_app_and_its_tokens(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body())
    tokens.get_app_token(TENANT)

    tokens.forget_tenant(TENANT.upper())
    tokens.get_app_token(TENANT)

    assert [call.request.url for call in rsps.calls].count(discovery_url(TENANT)) == 2
    assert len(token_posts(rsps)) == 2


def test_a_domain_tenant_is_checked_against_the_guid_discovery_names(rsps):
    add_discovery(rsps, "contoso.onmicrosoft.com", TENANT)
    rsps.post(token_url(TENANT), json=token_body(tid=TENANT))

    assert tokens.get_app_token("Contoso.onmicrosoft.com").tenant_id == TENANT


def test_signin_app_uses_the_organizations_authority_and_is_reused(rsps):
    add_discovery(rsps, "organizations", None)

    app = tokens.signin_app()

    assert tokens.signin_app() is app
    assert app.authority.token_endpoint == f"{LOGIN}/organizations/oauth2/v2.0/token"
    assert [call.request.url for call in rsps.calls] == [discovery_url("organizations")]


def test_signin_apps_for_typed_tenants_are_bounded_and_the_oldest_go_first(rsps, monkeypatch):
    monkeypatch.setattr(tokens, "MAX_SIGNIN_APPS", 3)
    domains = [f"tenant{number}.example.com" for number in range(5)]
    for domain in domains:
        add_discovery(rsps, domain, None)

    apps = [tokens.signin_app(domain) for domain in domains]

    assert tokens.signin_app(domains[-1]) is apps[-1]
    discoveries = [call.request.url for call in rsps.calls]
    tokens.signin_app(domains[0])  # evicted: built again, with a new discovery
    assert len(rsps.calls) == len(discoveries) + 1
    assert sum(key[0] == "signin" for key in tokens._apps) == 3


# -- what the token must prove -----------------------------------------------------------
def test_a_token_for_another_tenant_is_refused(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body(tid=OTHER_TENANT))

    with pytest.raises(MalformedResponseError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "tenant_mismatch"
    assert_safe(caught.value)


def test_a_token_without_tid_is_refused(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body(tid=None))

    with pytest.raises(MalformedResponseError):
        tokens.get_app_token(TENANT)


def test_a_token_that_is_not_a_jwt_is_refused(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json={"token_type": "Bearer", "expires_in": 3599, "access_token": "opaque-token"})

    with pytest.raises(MalformedResponseError) as caught:
        tokens.get_app_token(TENANT)

    assert "opaque-token" not in str(caught.value)


def test_a_token_without_roles_has_none(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body(roles=None))

    assert tokens.get_app_token(TENANT).roles == frozenset()


def test_require_role_raises_consent_required_when_the_role_is_missing():
    token = app_token(roles=("MailboxSettings.Read",))

    with pytest.raises(ConsentRequiredError) as caught:
        tokens.require_role(token, "User.Read.All")

    assert caught.value.code == "missing_role"
    assert "User.Read.All" in str(caught.value)
    assert_safe(caught.value)


def test_require_role_passes_when_the_role_is_present():
    tokens.require_role(app_token(roles=("User.Read.All",)), "User.Read.All")


# -- tenant id validation ------------------------------------------------------------------
@pytest.mark.parametrize(
    "tenant_id",
    [
        "",
        "organizations",
        "common",
        "../evil",
        f"{TENANT}/../x",
        "contoso.com/evil",
        "a b.com",
        "evil.com?x=1",
    ],
)
def test_a_tenant_id_that_is_neither_guid_nor_domain_never_reaches_the_network(rsps, tenant_id):
    with pytest.raises(TenantNotFoundError) as caught:
        tokens.get_app_token(tenant_id)

    assert caught.value.code == "invalid_tenant_id"
    assert len(rsps.calls) == 0


# -- error mapping ------------------------------------------------------------------------
CONSENT = ConsentRequiredError
CREDENTIALS = AppCredentialsError


@pytest.mark.parametrize(
    ("error", "code", "text", "expected", "expected_code"),
    [
        ("unauthorized_client", 700016, "Application with identifier was not found in the directory.", CONSENT, ""),
        ("invalid_grant", 65001, "The user or administrator has not consented to use the application.", CONSENT, ""),
        ("invalid_client", 7000215, "Invalid client secret provided.", CREDENTIALS, ""),
        ("invalid_client", 7000222, "The provided client secret keys for app are expired.", CREDENTIALS, ""),
        ("invalid_client", 700027, "Client assertion failed signature validation.", CREDENTIALS, ""),
        ("invalid_request", 90002, "Tenant not found. Check to make sure you have the correct tenant ID.", TenantNotFoundError, ""),
        ("unauthorized_client", None, "The client is not authorized.", CONSENT, "unauthorized_client"),
        ("invalid_client", None, "Admin consent is required for the permissions requested.", CONSENT, "invalid_client"),
        ("invalid_client", None, "Client authentication failed.", CREDENTIALS, "invalid_client"),
        ("temporarily_unavailable", None, "The server is temporarily too busy.", TransientError, ""),
    ],
)  # fmt: skip
def test_entra_errors_map_onto_what_the_caller_should_do(rsps, error, code, text, expected, expected_code):
    add_discovery(rsps)
    rsps.post(
        token_url(), status=400 if error != "invalid_client" else 401, json=aad_error(error, code, text)
    )

    with pytest.raises(expected) as caught:
        tokens.get_app_token(TENANT)

    assert type(caught.value) is expected
    assert caught.value.code == (expected_code or (f"AADSTS{code}" if code else error))
    assert "Trace ID" not in str(caught.value)
    assert_safe(caught.value)


def test_the_aadsts_code_is_read_from_the_description_when_error_codes_is_absent(rsps):
    add_discovery(rsps)
    body = aad_error(
        "invalid_client", 7000222, "The provided client secret keys are expired.", with_codes=False
    )
    rsps.post(token_url(), status=401, json=body)

    with pytest.raises(AppCredentialsError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "AADSTS7000222"


def test_the_aadsts_code_is_read_from_error_codes_when_the_description_lacks_it(rsps):
    add_discovery(rsps)
    body = {"error": "invalid_request", "error_description": "Tenant not found.", "error_codes": [90002]}
    rsps.post(token_url(), status=400, json=body)

    with pytest.raises(TenantNotFoundError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "AADSTS90002"


def test_an_unknown_entra_error_is_a_generic_microsoft_error(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), status=400, json=aad_error("invalid_request", 50011, "Something unusual."))

    with pytest.raises(MicrosoftError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "AADSTS50011"


def test_an_error_message_never_echoes_the_client_secret(rsps):
    add_discovery(rsps)
    body = aad_error("invalid_client", 7000215, f"Invalid client secret provided: {CLIENT_SECRET}.")
    rsps.post(token_url(), status=401, json=body)

    with pytest.raises(AppCredentialsError) as caught:
        tokens.get_app_token(TENANT)

    assert_safe(caught.value)


def test_an_unknown_tenant_at_discovery_is_tenant_not_found(rsps):
    body = aad_error("invalid_tenant", 90002, f"Tenant '{TENANT}' not found.")
    rsps.get(discovery_url(TENANT), status=400, json=body)

    with pytest.raises(TenantNotFoundError):
        tokens.get_app_token(TENANT)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_at_the_token_endpoint_is_transient(rsps, status):
    add_discovery(rsps)
    rsps.post(token_url(), status=status, body="Service Unavailable")

    with pytest.raises(TransientError):
        tokens.get_app_token(TENANT)


def test_a_server_error_at_discovery_is_transient(rsps):
    rsps.get(discovery_url(TENANT), status=503, body="busy")

    with pytest.raises(TransientError):
        tokens.get_app_token(TENANT)


@pytest.mark.parametrize("failure", [requests.ConnectionError("reset"), requests.Timeout("read timed out")])
def test_a_network_failure_at_the_token_endpoint_is_transient(rsps, failure):
    add_discovery(rsps)
    rsps.post(token_url(), body=failure)

    with pytest.raises(TransientError):
        tokens.get_app_token(TENANT)


def test_a_network_failure_at_discovery_is_transient(rsps):
    rsps.get(discovery_url(TENANT), body=requests.ConnectionError("no route"))

    with pytest.raises(TransientError):
        tokens.get_app_token(TENANT)


def test_a_non_json_token_answer_is_transient(rsps):
    add_discovery(rsps)
    rsps.post(token_url(), status=200, body="<html>proxy error</html>")

    with pytest.raises(TransientError):
        tokens.get_app_token(TENANT)


# -- the app credential -----------------------------------------------------------------
def test_a_missing_client_id_is_an_app_credentials_error(rsps, settings):
    settings.AZURE_CLIENT_ID = ""

    with pytest.raises(AppCredentialsError):
        tokens.get_app_token(TENANT)

    assert len(rsps.calls) == 0


def test_no_secret_and_no_certificate_is_an_app_credentials_error(rsps, settings):
    settings.AZURE_CLIENT_SECRET = ""

    with pytest.raises(AppCredentialsError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "missing_credential"


def _certificate_pem(tmp_path, *, days: int = 365, other_key: bool = False) -> tuple[str, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "msp-portal")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if other_key else key
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "app.pem"
    path.write_bytes(pem)
    return str(path), cert


def test_a_certificate_credential_signs_a_client_assertion_with_its_thumbprint(rsps, settings, tmp_path):
    settings.AZURE_CLIENT_CERTIFICATE_PATH, cert = _certificate_pem(tmp_path)
    settings.AZURE_CLIENT_SECRET = ""
    add_discovery(rsps)
    rsps.post(token_url(), json=token_body())

    tokens.get_app_token(TENANT)

    form = parse_qs(token_posts(rsps)[0].request.body)
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert "client_secret" not in form
    header_b64 = form["client_assertion"][0].split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    expected_x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    assert header["x5t"].rstrip("=") == expected_x5t


def test_an_expired_certificate_is_an_app_credentials_error(rsps, settings, tmp_path):
    settings.AZURE_CLIENT_CERTIFICATE_PATH, _ = _certificate_pem(tmp_path, days=-1)

    with pytest.raises(AppCredentialsError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "certificate_expired"
    assert len(rsps.calls) == 0


def test_a_key_that_does_not_match_the_certificate_is_an_app_credentials_error(settings, tmp_path):
    settings.AZURE_CLIENT_CERTIFICATE_PATH, _ = _certificate_pem(tmp_path, other_key=True)

    with pytest.raises(AppCredentialsError) as caught:
        tokens.get_app_token(TENANT)

    assert caught.value.code == "certificate_invalid"


@pytest.mark.parametrize("content", [None, b"not a pem at all"])
def test_an_unreadable_certificate_file_is_an_app_credentials_error(settings, tmp_path, content):
    path = tmp_path / "app.pem"
    if content is not None:
        path.write_bytes(content)
    settings.AZURE_CLIENT_CERTIFICATE_PATH = str(path)

    with pytest.raises(AppCredentialsError):
        tokens.get_app_token(TENANT)


def test_the_fake_jwt_helper_round_trips_through_the_claim_reader():
    assert tokens._unverified_claims(fake_jwt(tid=OTHER_TENANT))["tid"] == OTHER_TENANT


def test_the_signin_app_reads_the_id_token_but_keeps_no_admin_tokens(rsps):
    add_discovery(rsps, "organizations", None)
    app = tokens.signin_app()
    flow = app.initiate_auth_code_flow(
        scopes=[],
        redirect_uri="https://portal.example/integrations/azure/callback/",
        response_mode="form_post",
    )
    id_token = fake_jwt(
        aud=CLIENT_ID,
        iss=f"{LOGIN}/{TENANT}/v2.0",
        nonce=hashlib.sha256(flow["nonce"].encode()).hexdigest(),
        roles=None,
        ver="2.0",
    )
    rsps.post(
        f"{LOGIN}/organizations/oauth2/v2.0/token",
        json={
            **token_body(),
            "id_token": id_token,
            "refresh_token": "0.AAAA-refresh",
            "scope": "openid profile",
        },
    )

    result = app.acquire_token_by_auth_code_flow(flow, {"code": "0.AAAA-code", "state": flow["state"]})

    assert result["id_token_claims"]["tid"] == TENANT
    assert app.get_accounts() == []
