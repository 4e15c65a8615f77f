"""The tenant-binding flow (SPEC.md section 4) attacked as a hostile user would.

Every URL of the flow (connect, callback, confirm, confirm/cancel) is called by
the wrong person, with forged, replayed, cross-session, cross-user,
cross-customer and stale requests, and with hostile query strings and forms.
Microsoft answers through `responses` at its real URLs (production MSAL and
requests code paths); ID tokens are signed with real RSA keys.

Each test says what the attack is and proves it binds nothing, consumes
nothing it should not, never answers 500 and leaks no secret.

Reference: https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens
Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent
Reference: https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import time
from html import unescape
from urllib.parse import urlparse

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from jwt.algorithms import RSAAlgorithm

from integrations import consent
from integrations.models import AzureConnection, SyncRun
from integrations.services.connections import connection_connect, connection_disconnect
from portal.customers.models import Membership
from portal.log_redaction import RedactSecretsFilter
from tests.conftest import make_user
from tests.integrations import microsoft_responses
from tests.integrations.consent_steps import (
    confirm,
    confirmation_fields,
    consent_callback,
    logged_in,
    query_of,
    return_from_sign_in,
    sign_in,
    sign_in_and_confirm,
    start,
)
from tests.integrations.graph_helpers import CLIENT_ID, LOGIN, OTHER_TENANT, TENANT
from tests.integrations.microsoft_responses import AUTH_CODE, SIGNING_KEY, SIGNING_KID

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]

CALLBACK = "/integrations/azure/callback/"
CONFIRM = "/integrations/azure/confirm/"
CANCEL = "/integrations/azure/confirm/cancel/"
THIRD_TENANT = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


# -- helpers -------------------------------------------------------------------------
def no_binding() -> None:
    assert not AzureConnection.objects.exists()
    assert not SyncRun.objects.exists()


def alert(response) -> str:
    body = unescape(response.content.decode(errors="replace"))
    start_at = body.find('role="alert">')
    return body[start_at : start_at + 400] if start_at >= 0 else body[:400]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_jwt(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])


def forge_id_token(monkeypatch, make) -> None:
    """Microsoft (on `responses`) answers the code with `make(claims)` as its ID token."""
    monkeypatch.setattr(microsoft_responses, "signed_jwt", make)


def signin_refused(client, customer, microsoft, says: str) -> str:
    response = return_from_sign_in(client, start(client, customer), microsoft)
    assert response.status_code == 400, (response.status_code, alert(response))
    body = unescape(response.content.decode())
    assert says in body, alert(response)
    session = client.session
    for key in consent.FLOW_KEYS:
        assert key not in session, key
    assert "adminconsent" not in body
    no_binding()
    return body


def publish_keys(microsoft, tenant: str, key, kid: str) -> None:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    body = {"keys": [{**jwk, "kid": kid, "use": "sig", "kty": "RSA"}]}
    microsoft.rsps.replace(responses.GET, f"{LOGIN}/{tenant}/discovery/v2.0/keys", json=body)


# -- who may call each URL -----------------------------------------------------------
def test_every_url_of_the_flow_refuses_an_anonymous_caller(customer):
    anonymous = Client()

    for response in (
        anonymous.post(reverse("integrations:connect", args=[customer.pk]), {"tenant": TENANT}),
        anonymous.get(CONFIRM),
        anonymous.post(CONFIRM, {"flow": "x", "customer": customer.pk, "tenant": TENANT}),
        anonymous.post(CANCEL, {"flow": "x", "customer": customer.pk, "tenant": TENANT}),
    ):
        assert response.status_code == 302
        assert urlparse(response["Location"]).path == reverse("login")
    response = anonymous.get(CALLBACK, {"admin_consent": "True", "tenant": TENANT, "state": "s"})
    assert response.status_code in (302, 401, 403)
    no_binding()


def test_an_anonymous_callback_never_carries_the_sign_in_code_into_a_login_url(customer, caplog):
    """Logged out between the legs: the session (and its flow) is gone, so the code
    can never be redeemed; it must not travel on into `?next=` (log lines, history)."""
    caplog.set_level(logging.DEBUG)

    response = Client().get(CALLBACK, {"code": AUTH_CODE, "state": "the-state", "session_state": "x"})

    assert response.status_code == 401
    assert AUTH_CODE not in response.get("Location", "")
    assert AUTH_CODE not in response.content.decode()
    assert "signed in to the portal" in alert(response)
    assert f'href="{reverse("portal:home")}"' in response.content.decode()  # a way back, without the code
    assert all(AUTH_CODE not in record.getMessage() for record in caplog.records)
    no_binding()


def test_a_user_logged_out_between_the_legs_binds_nothing_after_logging_in_again(
    customer, customer_admin, microsoft
):
    client = Client()
    client.force_login(customer_admin)
    consent_query = sign_in_and_confirm(client, customer, microsoft)
    client.post(reverse("logout"))

    anonymous = consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])
    client.force_login(customer_admin)
    again = consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])

    assert anonymous.status_code == 401
    assert again.status_code == 400
    assert "does not belong to a connection in progress" in alert(again)
    no_binding()


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", "connect"), ("put", "connect"), ("post", CALLBACK), ("delete", CONFIRM), ("get", CANCEL)],
)
def test_each_url_refuses_the_wrong_http_method(customer, customer_admin, method, url):
    client = logged_in(customer_admin)
    url = reverse("integrations:connect", args=[customer.pk]) if url == "connect" else url

    assert getattr(client, method)(url).status_code == 405


def test_connect_confirm_and_cancel_need_the_csrf_token(customer, customer_admin, microsoft):
    trusting = logged_in(customer_admin)
    fields = sign_in(trusting, customer, microsoft)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = trusting.cookies  # the victim's own session, driven by a cross-site form

    for url, data in (
        (reverse("integrations:connect", args=[customer.pk]), {}),
        (CONFIRM, fields),
        (CANCEL, fields),
    ):
        assert strict.post(url, data).status_code == 403, url
    assert trusting.session[consent.CONFIRM_KEY]["token"] == fields["flow"]  # nothing consumed
    assert consent.CONSENT_KEY not in trusting.session
    no_binding()


@pytest.mark.parametrize("demoted_to", ["member", "staff without the permission", "nobody"])
def test_a_user_who_lost_the_right_to_manage_cannot_reach_consent_with_a_confirmation_in_hand(
    customer, customer_admin, microsoft, demoted_to
):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    if demoted_to == "member":
        Membership.objects.filter(user=customer_admin).update(role=Membership.Role.MEMBER)
    else:
        Membership.objects.filter(user=customer_admin).delete()
        if demoted_to.startswith("staff"):
            customer_admin.is_staff = True
            customer_admin.save()
    expected = 404 if demoted_to == "nobody" else 403

    assert client.get(CONFIRM).status_code == expected
    assert client.post(CONFIRM, fields).status_code == expected
    cancel = client.post(CANCEL, fields)

    assert cancel.status_code == expected  # no page about a customer they may not manage
    assert customer.name not in cancel.content.decode()
    assert consent.CONSENT_KEY not in client.session
    no_binding()


def test_a_member_who_calls_the_callback_with_the_admins_state_binds_nothing(
    customer, customer_admin, customer_member, microsoft
):
    admin = logged_in(customer_admin)
    consent_query = sign_in_and_confirm(admin, customer, microsoft)
    member = logged_in(customer_member)

    response = consent_callback(member, admin_consent="True", tenant=TENANT, state=consent_query["state"])

    assert response.status_code == 400
    assert admin.session[consent.CONSENT_KEY]["state"] == consent_query["state"]  # intact
    no_binding()


# -- forged, cross-session, cross-user and cross-customer confirmations -----------------
def test_another_users_confirmation_fields_are_refused_in_the_attackers_session(
    customer, other_customer, customer_admin, microsoft
):
    victim = logged_in(customer_admin)
    fields = sign_in(victim, customer, microsoft)  # e.g. read off a shared screen
    attacker_user = make_user("attacker", customer=customer, role="admin")
    Membership.objects.create(user=attacker_user, customer=other_customer, role=Membership.Role.ADMIN)
    attacker = logged_in(attacker_user)

    for forged in (fields, {**fields, "customer": str(other_customer.pk)}):
        response = attacker.post(CONFIRM, forged)
        assert response.status_code == 400
        assert "not the one waiting in your session" in alert(response)
    assert attacker.post(CANCEL, fields).status_code == 400
    assert victim.session[consent.CONFIRM_KEY]["token"] == fields["flow"]  # the victim's flow is intact
    no_binding()


def test_a_confirmation_cannot_be_redirected_to_another_customer_the_same_admin_manages(
    customer, other_customer, customer_admin, microsoft
):
    Membership.objects.create(user=customer_admin, customer=other_customer, role=Membership.Role.ADMIN)
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)

    response = client.post(CONFIRM, {**fields, "customer": str(other_customer.pk)})

    assert response.status_code == 400
    assert consent.CONSENT_KEY not in client.session
    consent_query = confirm(client, fields, microsoft)  # the real confirmation still works, for Contoso
    consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])
    assert list(AzureConnection.objects.values_list("customer_id", "tenant_id")) == [(customer.pk, TENANT)]


HOSTILE_FORM_VALUES = [
    {"customer": ""},
    {"customer": "abc"},
    {"customer": "1\x00"},
    {"customer": "\u0661"},  # ARABIC-INDIC DIGIT ONE: int() accepts it
    {"customer": " 1 "},
    {"customer": "-1"},
    {"customer": "9" * 30},
    {"customer": "9" * 5000},
    {"customer": "1e3"},
    {"tenant": TENANT.upper()},
    {"tenant": TENANT + "\x00"},
    {"tenant": "\u202e" + TENANT},
    {"tenant": OTHER_TENANT},
    {"tenant": "A" * 100_000},
    {"flow": ""},
    {"flow": "é" * 50},
    {"flow": "\x00"},
    {"flow": None},
    {"customer": None},
    {"tenant": None},
]


@pytest.mark.parametrize("tamper", HOSTILE_FORM_VALUES, ids=range(len(HOSTILE_FORM_VALUES)))
def test_a_hostile_confirm_or_cancel_form_is_refused_and_consumes_nothing(
    customer, customer_admin, microsoft, tamper
):
    client = Client(raise_request_exception=False)
    client.force_login(customer_admin)
    fields = sign_in(client, customer, microsoft)
    # The customer's pk is 1 on a fresh database only: "1"-shaped values must still be refused.
    form = {key: value for key, value in {**fields, **tamper}.items() if value is not None}

    for url in (CONFIRM, CANCEL):
        response = client.post(url, form)
        assert response.status_code in (400, 403, 404), (url, response.status_code)
        assert "adminconsent" not in response.get("Location", "")
    assert client.session[consent.CONFIRM_KEY]["token"] == fields["flow"]
    assert consent.CONSENT_KEY not in client.session
    confirm(client, fields, microsoft)  # the genuine form still goes through
    no_binding()


def test_repeated_hidden_fields_are_read_the_same_way_by_every_check(customer, customer_admin, microsoft):
    """`customer=<other>&customer=<own>`: the permission check and the session check must
    agree on which copy they read, or one could vouch for the other."""
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    body = "&".join(
        [f"flow={fields['flow']}", "customer=999999", f"customer={fields['customer']}", f"tenant={TENANT}"]
    )

    response = client.post(CONFIRM, body, content_type="application/x-www-form-urlencoded")

    # Both read the last copy (the admin's own customer): a consistent, legitimate confirmation.
    assert response.status_code == 302
    assert urlparse(response["Location"]).path == f"/{TENANT}/v2.0/adminconsent"


# -- R11: one tenant, one customer, checked before Microsoft is asked for consent -------
def test_confirm_is_refused_when_the_tenant_was_bound_to_another_customer_meanwhile(
    customer, other_customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    connection_connect(customer=other_customer, tenant_id=TENANT, tenant_name="Contoso Ltd")

    page = client.get(CONFIRM)
    response = client.post(CONFIRM, fields)

    assert "already connected to another customer" in alert(page)
    assert response.status_code == 409
    assert "adminconsent" not in response.get("Location", "")  # no pointless consent at Microsoft
    assert "already connected to another customer" in alert(response)
    assert consent.CONSENT_KEY not in client.session
    assert list(AzureConnection.objects.values_list("customer_id", "tenant_id")) == [
        (other_customer.pk, TENANT)
    ]


def test_confirm_is_refused_when_the_customer_was_connected_to_another_tenant_meanwhile(
    customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    connection_connect(customer=customer, tenant_id=OTHER_TENANT, tenant_name="Fabrikam Inc")

    response = client.post(CONFIRM, fields)

    assert response.status_code == 409
    assert "already connected to another tenant" in alert(response)
    assert consent.CONSENT_KEY not in client.session
    assert list(AzureConnection.objects.values_list("customer_id", "tenant_id")) == [
        (customer.pk, OTHER_TENANT)
    ]


def test_a_customer_disconnected_meanwhile_can_still_be_reconnected_to_the_same_tenant(
    customer, customer_admin, microsoft
):
    connection = connection_connect(customer=customer, tenant_id=TENANT, tenant_name="Contoso Ltd")
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    connection_disconnect(connection=connection)

    consent_query = confirm(client, fields, microsoft)
    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])

    assert response.status_code == 302
    assert list(AzureConnection.objects.values_list("customer_id", "tenant_id")) == [(customer.pk, TENANT)]


def test_a_consent_callback_for_a_tenant_bound_to_another_customer_after_confirm_binds_nothing(
    customer, other_customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    consent_query = sign_in_and_confirm(client, customer, microsoft)
    connection_connect(customer=other_customer, tenant_id=TENANT, tenant_name="Contoso Ltd")

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])

    assert response.status_code == 400
    assert "already connected to another customer" in alert(response)
    assert list(AzureConnection.objects.values_list("customer_id", "tenant_id")) == [
        (other_customer.pk, TENANT)
    ]
    assert consent.DONE_KEY not in client.session  # a repeat cannot say "already connected"


# -- callbacks: login CSRF, cross-session states, odd error redirects ---------------------
def test_an_attackers_sign_in_code_injected_into_a_victims_session_is_refused(
    customer, other_customer, customer_admin, other_admin, microsoft
):
    """Login CSRF: the attacker starts their own flow, stops at Microsoft's redirect and
    has the victim's browser open it (their code, their state)."""
    victim = logged_in(customer_admin)
    victim_query = start(victim, customer)
    attacker = logged_in(other_admin)
    attacker_query = start(attacker, other_customer)
    microsoft.nonce = attacker_query["nonce"]

    response = victim.get(CALLBACK, {"code": AUTH_CODE, "state": attacker_query["state"]})

    assert response.status_code == 400
    assert consent.CONFIRM_KEY not in victim.session  # no confirmation of the attacker's tenant
    assert victim.session[consent.SIGNIN_KEY]["flow"]["state"] == victim_query["state"]  # intact
    assert attacker.session[consent.SIGNIN_KEY]["flow"]["state"] == attacker_query["state"]
    no_binding()


def test_an_attackers_consent_callback_opened_in_a_victims_session_is_refused(
    customer, other_customer, customer_admin, other_admin, microsoft
):
    victim = logged_in(customer_admin)
    victim_state = sign_in_and_confirm(victim, customer, microsoft)["state"]
    attacker = logged_in(other_admin)
    microsoft.signed_in_tid = OTHER_TENANT
    attacker_state = sign_in_and_confirm(attacker, other_customer, microsoft)["state"]

    for tenant in (OTHER_TENANT, TENANT):
        response = consent_callback(victim, admin_consent="True", tenant=tenant, state=attacker_state)
        assert response.status_code == 400
    assert victim.session[consent.CONSENT_KEY]["state"] == victim_state
    assert attacker.session[consent.CONSENT_KEY]["state"] == attacker_state
    no_binding()


def test_a_sign_in_state_replayed_on_the_consent_leg_binds_nothing(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = start(client, customer)
    return_from_sign_in(client, query, microsoft)

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert response.status_code == 400
    no_binding()


def test_a_consent_shaped_callback_with_the_sign_in_state_binds_nothing(customer, customer_admin, microsoft):
    """Skipping the confirmation: the forged admin-consent redirect carries the sign-in's state."""
    client = Client(raise_request_exception=False)
    client.force_login(customer_admin)
    query = start(client, customer)
    microsoft.nonce = query["nonce"]

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert response.status_code in (302, 400)
    if response.status_code == 302:  # at most the confirmation page, never a binding
        assert response["Location"] == reverse("integrations:confirm")
    assert consent.CONSENT_KEY not in client.session
    no_binding()


HOSTILE_ERRORS = [
    {"error": "<script>alert(1)</script>", "error_description": "<img src=x onerror=alert(1)>"},
    {"error": "access_denied\x00", "error_description": "AADSTS65004\x00 declined"},
    {"error": "e" * 100_000, "error_description": "d" * 100_000},
    {"error": "\u202eeurt", "error_description": "AADSTS" + "9" * 50},
    {"error": "invalid_request", "error_description": "AADSTS90094 see https://evil.example/phish"},
    {"error": "", "error_description": ""},
    {"error": "server_error", "error_description": "XAADSTS65004Y Call +1-555-0100 for help"},
]


@pytest.mark.parametrize("error", HOSTILE_ERRORS, ids=range(len(HOSTILE_ERRORS)))
def test_an_odd_admin_consent_error_redirect_is_shown_in_our_words_only(
    customer, customer_admin, microsoft, error
):
    client = logged_in(customer_admin)
    state = sign_in_and_confirm(client, customer, microsoft)["state"]

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=state, **error)

    assert response.status_code == 400
    body = response.content.decode()
    for hostile in ("<script>", "<img", "evil.example", "555-0100", "d" * 300, "e" * 300):
        assert hostile not in body
    assert "Microsoft&#x27;s code" in body or "Microsoft's code" in body
    assert consent.CONSENT_KEY not in client.session  # the flow's own error spends its state
    no_binding()


def test_an_error_redirect_with_a_foreign_state_consumes_nothing(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    state = sign_in_and_confirm(client, customer, microsoft)["state"]

    response = consent_callback(client, admin_consent="True", error="access_denied", state="not-yours")

    assert response.status_code == 400
    assert client.session[consent.CONSENT_KEY]["state"] == state
    no_binding()


def test_a_callback_with_thousands_of_parameters_is_refused_not_a_server_error(customer_admin):
    client = Client(raise_request_exception=False)
    client.force_login(customer_admin)

    response = client.get(CALLBACK + "?" + "&".join(f"p{n}=1" for n in range(5000)))

    assert response.status_code == 400
    no_binding()


# -- the ID token ---------------------------------------------------------------------
def test_an_id_token_for_the_right_tenant_signed_by_another_tenants_key_binds_nothing(
    customer, customer_admin, microsoft, monkeypatch
):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    publish_keys(microsoft, OTHER_TENANT, other_key, "other-tenant-key")
    forge_id_token(
        monkeypatch,
        lambda claims: jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "other-tenant-key"}),
    )

    signin_refused(logged_in(customer_admin), customer, microsoft, "key Microsoft does not publish")


def test_an_id_token_signed_by_another_tenants_key_under_this_tenants_kid_binds_nothing(
    customer, customer_admin, microsoft, monkeypatch
):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    publish_keys(microsoft, OTHER_TENANT, other_key, SIGNING_KID)
    forge_id_token(
        monkeypatch,
        lambda claims: jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": SIGNING_KID}),
    )

    signin_refused(logged_in(customer_admin), customer, microsoft, "signature is not Microsoft's")


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://login.windows.net/{TENANT}/v2.0",
        f"https://sts.windows.net/{TENANT}/",
        f"https://login.microsoftonline.us/{TENANT}/v2.0",
        f"https://login.microsoftonline.com.evil.example/{TENANT}/v2.0",
        f"http://login.microsoftonline.com/{TENANT}/v2.0",
        f"{LOGIN}/{TENANT}/v2.0/",
        f"{LOGIN}/{TENANT.upper()}/v2.0",
        f"{LOGIN}/organizations/v2.0",
        f"{LOGIN}/{{tenantid}}/v2.0",
    ],
)
def test_an_id_token_whose_issuer_uses_another_authority_host_or_shape_binds_nothing(
    customer, customer_admin, microsoft, issuer
):
    microsoft.id_claims = {"iss": issuer}

    signin_refused(logged_in(customer_admin), customer, microsoft, "unexpected issuer")


@pytest.mark.parametrize(
    "audience",
    [[CLIENT_ID, "11111111-2222-4333-8444-555555555555"], [CLIENT_ID], CLIENT_ID.upper(), f" {CLIENT_ID}"],
    ids=["list-with-another-app", "list-of-one", "upper", "padded"],
)
def test_an_id_token_whose_audience_is_not_exactly_this_app_binds_nothing(
    customer, customer_admin, microsoft, audience
):
    """OpenID Connect: reject a token that also lists audiences the client does not trust."""
    microsoft.id_claims = {"aud": audience}

    signin_refused(logged_in(customer_admin), customer, microsoft, "another application")


@pytest.mark.parametrize(
    "wids",
    [
        "62e90394-69f5-4237-9190-012177145e10",
        {"62e90394-69f5-4237-9190-012177145e10": True},
        [["62e90394-69f5-4237-9190-012177145e10"]],
        [{"id": "62e90394-69f5-4237-9190-012177145e10"}],
        ["62E90394-69F5-4237-9190-012177145E10"],
        [" 62e90394-69f5-4237-9190-012177145e10"],
        [62],
        [],
        "",
        0,
        True,
    ],
    ids=[
        "string",
        "dict",
        "nested",
        "objects",
        "upper",
        "padded",
        "int",
        "empty",
        "empty-string",
        "zero",
        "true",
    ],
)
def test_a_wids_claim_of_the_wrong_shape_is_no_administrator_proof(customer, customer_admin, microsoft, wids):
    microsoft.wids = wids

    signin_refused(logged_in(customer_admin), customer, microsoft, "not an administrator of tenant")


@pytest.mark.parametrize(
    "tid",
    [
        "contoso.onmicrosoft.com",
        "{" + TENANT + "}",
        TENANT + "\n",
        TENANT.replace("-", ""),
        "00000000-0000-0000-0000-00000000000g",
        12345,
        [TENANT],
        {"id": TENANT},
        "organizations",
        "../" + TENANT,
    ],
    ids=[
        "domain",
        "braces",
        "newline",
        "no-dashes",
        "not-hex",
        "int",
        "list",
        "dict",
        "organizations",
        "path",
    ],
)
def test_an_id_token_whose_tid_is_not_a_guid_binds_nothing(customer, customer_admin, microsoft, tid):
    microsoft.id_claims = {"tid": tid, "iss": f"{LOGIN}/{tid}/v2.0"}

    signin_refused(logged_in(customer_admin), customer, microsoft, "could not be trusted")


def test_an_id_token_with_alg_none_binds_nothing(customer, customer_admin, microsoft, monkeypatch):
    forge_id_token(
        monkeypatch, lambda claims: raw_jwt({"alg": "none", "typ": "JWT", "kid": SIGNING_KID}, claims)
    )

    signin_refused(logged_in(customer_admin), customer, microsoft, "could not be trusted")


def test_an_id_token_hmac_signed_with_microsofts_public_key_binds_nothing(
    customer, customer_admin, microsoft, monkeypatch
):
    """Algorithm confusion: HS256 keyed with the published RSA public key."""
    public_pem = SIGNING_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def hs256(claims):
        header = {"alg": "HS256", "typ": "JWT", "kid": SIGNING_KID}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"

    forge_id_token(monkeypatch, hs256)

    signin_refused(logged_in(customer_admin), customer, microsoft, "could not be trusted")


def test_an_id_token_pointing_at_the_attackers_own_keys_binds_nothing(
    customer, customer_admin, microsoft, monkeypatch
):
    """`jku`/`x5u`/embedded `jwk` headers name keys the attacker controls: never followed."""
    attacker_jwk = RSAAlgorithm.to_jwk(ATTACKER_KEY.public_key(), as_dict=True)
    headers = {
        "kid": SIGNING_KID,
        "jku": "https://evil.example/keys",
        "x5u": "https://evil.example/cert",
        "jwk": attacker_jwk,
    }
    forge_id_token(
        monkeypatch, lambda claims: jwt.encode(claims, ATTACKER_KEY, algorithm="RS256", headers=headers)
    )

    signin_refused(logged_in(customer_admin), customer, microsoft, "signature is not Microsoft's")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) - 86400), "nbf": int(time.time()) - 90000},
        {"exp": "tomorrow"},
        {"nbf": "yesterday"},
        {"iat": "now"},
        {"nonce": None},
        {"nonce": ["x"]},
        {"aud": None},
        {"iss": None},
        {"tid": None},
    ],
    ids=[
        "exp-past-as-string",
        "exp-word",
        "nbf-string",
        "iat-string",
        "no-nonce",
        "nonce-list",
        "no-aud",
        "no-iss",
        "no-tid",
    ],
)
def test_an_id_token_with_a_claim_of_the_wrong_type_or_missing_binds_nothing(
    customer, customer_admin, microsoft, claims
):
    microsoft.id_claims = claims
    client = Client(raise_request_exception=False)
    client.force_login(customer_admin)

    response = return_from_sign_in(client, start(client, customer), microsoft)

    assert response.status_code == 400, alert(response)
    assert consent.CONFIRM_KEY not in client.session
    no_binding()


def test_a_hostile_username_in_the_id_token_is_shown_escaped_and_cut(customer, customer_admin, microsoft):
    microsoft.username = "<script>alert(1)</script>\u202e" + "x" * 5000 + "@contoso.com"
    client = logged_in(customer_admin)

    return_from_sign_in(client, start(client, customer), microsoft)
    page = client.get(CONFIRM).content.decode()

    assert "<script>alert(1)" not in page
    assert "x" * 201 not in page


# -- hostile connect requests and open redirects ---------------------------------------
@pytest.mark.parametrize(
    "tenant",
    [
        "contoso.com\x00",
        "https://evil.example",
        "evil.example/../../x",
        "contoso.com?x=1",
        "contoso.com#frag",
        "user@contoso.com",
        "common",
        "consumers",
        "organizations",
        "c\u00f6ntoso.com",
        "a" * 300 + ".com",
        "contoso.com\r\nX-Injected: 1",
        "[::1]",
    ],
)
def test_a_hostile_tenant_field_never_sends_the_admin_anywhere_but_microsoft(
    customer, customer_admin, microsoft, tenant
):
    client = Client(raise_request_exception=False)
    client.force_login(customer_admin)

    response = client.post(reverse("integrations:connect", args=[customer.pk]), {"tenant": tenant})

    assert response.status_code == 400, (tenant, response.status_code)
    assert "neither a domain name nor a tenant id" in alert(response)
    assert consent.SIGNIN_KEY not in client.session
    assert len(microsoft.rsps.calls) == 0  # refused before any request to Microsoft


@pytest.mark.parametrize("customer_id", ["99999999999999999999", "2147483648", "9223372036854775808"])
def test_a_huge_customer_id_in_the_connect_url_is_a_404(customer_admin, customer_id):
    client = Client(raise_request_exception=False)
    client.force_login(customer_admin)

    assert client.post(f"/integrations/azure/connect/{customer_id}/").status_code == 404


def test_no_next_parameter_anywhere_in_the_flow_redirects_off_site(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    evil = {
        "next": "https://evil.example/",
        "return_to": "//evil.example",
        "redirect_uri": "https://evil.example",
    }

    start_response = client.post(reverse("integrations:connect", args=[customer.pk]), evil)
    query = query_of(start_response["Location"])
    microsoft.nonce = query["nonce"]
    signed_in = client.get(CALLBACK, {"code": AUTH_CODE, "state": query["state"], **evil})
    fields = confirmation_fields(client.get(CONFIRM, evil))
    to_consent = client.post(CONFIRM, {**fields, **evil})
    consent_state = query_of(to_consent["Location"])["state"]
    done = client.get(CALLBACK, {"admin_consent": "True", "tenant": TENANT, "state": consent_state, **evil})

    for response in (start_response, to_consent):
        assert urlparse(response["Location"]).netloc == urlparse(LOGIN).netloc
        assert "evil.example" not in response["Location"]
    assert (
        "redirect_uri=http%3A%2F%2Ftestserver%2Fintegrations%2Fazure%2Fcallback%2F" in to_consent["Location"]
    )
    for response in (signed_in, done):
        assert urlparse(response["Location"]).netloc == ""  # on-site
        assert "evil" not in response["Location"]


# -- secrets: nothing logged (even at DEBUG), nothing stored -----------------------------
def test_no_token_code_verifier_or_nonce_is_logged_even_at_debug(customer, customer_admin, microsoft):
    """Every logger at DEBUG, written through the deployment's handler filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setLevel(logging.DEBUG)
    names = ["", "django", "django.request", "django.server", "msal", "urllib3", "requests", "integrations"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    try:
        client = logged_in(customer_admin)
        query = start(client, customer)
        flow = dict(client.session[consent.SIGNIN_KEY]["flow"])
        return_from_sign_in(client, query, microsoft)
        fields = confirmation_fields(client.get(CONFIRM))
        consent_query = confirm(client, fields, microsoft)
        done = consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])
        # A refused second flow too: the error paths log as well.
        microsoft.wids = ["b79fbf4d-3ef9-4689-8143-76b194e85509"]
        query2 = start(client, customer)
        flow2 = dict(client.session[consent.SIGNIN_KEY]["flow"])
        return_from_sign_in(client, query2, microsoft)
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)

    assert done.status_code == 302
    written = stream.getvalue()
    assert "connected to tenant" in written  # the logs were captured at all
    secrets = {
        "code": AUTH_CODE,
        "verifier": flow["code_verifier"],
        "verifier2": flow2["code_verifier"],
        "nonce": flow["nonce"],
        "nonce2": flow2["nonce"],
        "id token": microsoft.id_token,
        "delegated token": microsoft.delegated_token,
        "confirmation token": fields["flow"],
        **{f"app token {n}": token for n, token in enumerate(microsoft.access_tokens)},
    }
    for name, secret in secrets.items():
        assert secret and secret not in written, name


def test_nothing_of_a_refused_flow_stays_in_the_session_or_the_database(
    customer, other_customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    seen: list[str] = []
    # 1. not an administrator; 2. an ID token for another app; 3. a declined consent;
    # 4. a consent for a tenant bound to another customer meanwhile.
    microsoft.wids = ["b79fbf4d-3ef9-4689-8143-76b194e85509"]
    query = start(client, customer)
    seen += [client.session[consent.SIGNIN_KEY]["flow"][k] for k in ("code_verifier", "nonce", "state")]
    return_from_sign_in(client, query, microsoft)
    microsoft.wids = [microsoft_responses.GLOBAL_ADMINISTRATOR]
    microsoft.id_claims = {"aud": "11111111-2222-4333-8444-555555555555"}
    query = start(client, customer)
    seen += [client.session[consent.SIGNIN_KEY]["flow"][k] for k in ("code_verifier", "nonce", "state")]
    return_from_sign_in(client, query, microsoft)
    microsoft.id_claims = {}
    consent_query = sign_in_and_confirm(client, customer, microsoft)
    seen.append(consent_query["state"])
    consent_callback(client, error="access_denied", admin_consent="True", state=consent_query["state"])
    consent_query = sign_in_and_confirm(client, customer, microsoft)
    seen.append(consent_query["state"])
    connection_connect(customer=other_customer, tenant_id=TENANT)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])

    stored = json.dumps(dict(client.session.items()), default=str)
    rows = json.dumps(
        [
            list(Session.objects.values_list("session_data", flat=True)),
            list(AzureConnection.objects.values()),
            list(SyncRun.objects.values()),
            list(LogEntry.objects.values()),
        ],
        default=str,
    )
    for secret in [*seen, AUTH_CODE, microsoft.id_token, microsoft.delegated_token, *microsoft.access_tokens]:
        assert secret not in stored
        assert secret not in rows
    for key in consent.FLOW_KEYS:
        assert key not in client.session, key


# -- on the Microsoft simulator (HTTPS, the portal's MSAL code unchanged) --------------
SIM_CONTOSO = "525b6c55-3da5-4253-a683-5aac155e4a8c"
SIM_FABRIKAM = "801200dd-397e-42a6-aee4-23cdb509ee77"
SIM_FABRIKAM_ADMIN = "AdeleV@fabrikam.onmicrosoft.com"


@pytest.mark.slow
def test_on_the_simulator_another_tenants_real_admin_cannot_steer_a_confirmation_into_a_consented_tenant(
    portal_on_simulator, customer, customer_admin
):
    """Contoso's tenant consented long ago. Fabrikam's real administrator, signed in for the
    Contoso customer, edits the confirmation's hidden tenant to Contoso's, then answers the
    consent and edits the redirect to name Contoso's tenant, with the genuine state."""
    from microsoft_simulator.testing import consent as answer_consent
    from microsoft_simulator.testing import session_for
    from microsoft_simulator.testing import sign_in as sign_in_at_microsoft

    sim = portal_on_simulator(users=60)
    sim.apply("grant_consent", tenant=SIM_CONTOSO)
    browser = session_for(sim)
    client = logged_in(customer_admin)
    to_microsoft = client.post(reverse("integrations:connect", args=[customer.pk]))
    back = urlparse(sign_in_at_microsoft(browser, to_microsoft["Location"], SIM_FABRIKAM_ADMIN))
    assert client.get(f"{back.path}?{back.query}")["Location"] == reverse("integrations:confirm")
    fields = confirmation_fields(client.get(CONFIRM))
    assert fields["tenant"] == SIM_FABRIKAM

    steered = client.post(CONFIRM, {**fields, "tenant": SIM_CONTOSO})
    assert steered.status_code == 400
    to_consent = client.post(CONFIRM, fields)
    assert urlparse(to_consent["Location"]).path == f"/{SIM_FABRIKAM}/v2.0/adminconsent"
    redirect = urlparse(answer_consent(browser, to_consent["Location"], SIM_FABRIKAM))
    answered = query_of(redirect.geturl())
    assert answered["tenant"] == SIM_FABRIKAM  # Microsoft (the simulator) names the real tenant
    response = client.get(redirect.path, {**answered, "tenant": SIM_CONTOSO})  # edited on the way back

    assert response.status_code == 400
    assert "different tenant" in alert(response)
    assert consent.CONSENT_KEY not in client.session
    no_binding()


@pytest.mark.parametrize("word", ["Call_0800_555_0100_to_unlock", "visit_evil_example_to_fix", "weird_error"])
def test_a_crafted_error_link_outside_any_flow_cannot_put_its_own_words_on_the_page(customer_admin, word):
    """Anyone can send a victim to `callback/?error=...`: with no state of the victim's
    session, only codes the standards define are shown, never the link's own text."""
    client = logged_in(customer_admin)

    response = consent_callback(client, error=word, error_description="AADSTS65004 x", admin_consent="True")

    assert response.status_code == 400
    assert word not in response.content.decode()
    assert "AADSTS65004" in response.content.decode()  # digits after a fixed prefix: still shown
    standard = consent_callback(client, error="access_denied", admin_consent="True")
    assert "access_denied" in standard.content.decode()
    no_binding()
