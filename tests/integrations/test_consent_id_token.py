"""SPEC.md 4.2 and 4.3: the ID token is validated, not just decoded, and only a
tenant administrator gets as far as the confirmation. Every refusal here binds
nothing and leaves no consent state or consent URL behind.

Reference: https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens
"""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations import consent
from tests.integrations import microsoft_responses
from tests.integrations.consent_steps import logged_in, refused, return_from_sign_in, start
from tests.integrations.graph_helpers import LOGIN, OTHER_TENANT, TENANT
from tests.integrations.microsoft_responses import GLOBAL_ADMINISTRATOR, MEMBER_USER_ROLE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]

PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"


def sign_in_with(client, customer, microsoft):
    return return_from_sign_in(client, start(client, customer), microsoft)


def assert_nothing_issued(client, body: str) -> None:
    assert "adminconsent" not in body
    session = client.session
    assert consent.CONSENT_KEY not in session and consent.CONFIRM_KEY not in session
    assert consent.SIGNIN_KEY not in session  # the sign-in was spent


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"aud": "11111111-2222-4333-8444-555555555555"}, "issued to another application"),
        ({"iss": f"{LOGIN}/{OTHER_TENANT}/v2.0"}, "not issued by the tenant it names"),
        ({"iss": f"https://sts.windows.net/{TENANT}/"}, "not issued by the tenant it names"),
        ({"exp": int(time.time()) - 86400, "nbf": int(time.time()) - 90000}, "has expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"tid": "contoso.com"}, "does not name the tenant"),
        # MSAL compares the nonce first; our own check stands behind it.
        ({"nonce": "someone-elses-nonce-hash"}, "did not match this session"),
        ({"exp": None}, "lacks the exp claim"),
    ],
    ids=["wrong-aud", "foreign-iss", "v1-iss", "expired", "not-yet-valid", "tid-not-guid", "nonce", "no-exp"],
)
def test_an_id_token_with_a_bad_claim_binds_nothing(customer, customer_admin, microsoft, claims, says):
    microsoft.id_claims = claims
    client = logged_in(customer_admin)

    body = refused(sign_in_with(client, customer, microsoft), says)

    assert "could not be trusted" in body or "did not match this session" in body
    assert_nothing_issued(client, body)


def test_an_id_token_a_few_minutes_past_its_expiry_is_accepted_within_the_leeway(
    customer, customer_admin, microsoft
):
    microsoft.id_claims = {"exp": int(time.time()) - 120}
    client = logged_in(customer_admin)

    response = sign_in_with(client, customer, microsoft)

    assert response.status_code == 302 and response["Location"].endswith("/integrations/azure/confirm/")


def test_an_id_token_signed_with_a_key_microsoft_does_not_publish_binds_nothing(
    customer, customer_admin, microsoft, monkeypatch
):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    real = microsoft_responses.signed_jwt
    monkeypatch.setattr(microsoft_responses, "signed_jwt", lambda claims: real(claims, key=forger))
    client = logged_in(customer_admin)

    body = refused(sign_in_with(client, customer, microsoft), "signature is not Microsoft's")

    assert_nothing_issued(client, body)


def test_an_id_token_naming_an_unknown_key_binds_nothing(customer, customer_admin, microsoft, monkeypatch):
    real = microsoft_responses.signed_jwt
    monkeypatch.setattr(microsoft_responses, "signed_jwt", lambda claims: real(claims, kid="rotated-away"))
    client = logged_in(customer_admin)

    refused(sign_in_with(client, customer, microsoft), "key Microsoft does not publish")


def test_a_user_who_is_not_an_administrator_gets_a_clear_page_and_nothing_else(
    customer, customer_admin, microsoft
):
    microsoft.wids = [MEMBER_USER_ROLE]
    microsoft.username = "someone@contoso.com"
    client = logged_in(customer_admin)

    body = refused(sign_in_with(client, customer, microsoft), "who is not an administrator of tenant")

    assert "someone@contoso.com" in body and TENANT in body
    assert "Global Administrator" in body
    assert_nothing_issued(client, body)


def test_a_missing_wids_claim_says_the_app_registration_must_emit_it(customer, customer_admin, microsoft):
    microsoft.wids = None
    client = logged_in(customer_admin)

    body = refused(sign_in_with(client, customer, microsoft), "must emit the 'wids' claim")

    assert "Directory roles" in body
    assert_nothing_issued(client, body)


@pytest.mark.parametrize("role", [GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR])
def test_a_global_or_privileged_role_administrator_reaches_the_confirmation(
    customer, customer_admin, microsoft, role
):
    microsoft.wids = [role]
    client = logged_in(customer_admin)

    response = sign_in_with(client, customer, microsoft)

    assert response["Location"].endswith("/integrations/azure/confirm/")
    assert client.session[consent.CONFIRM_KEY]["tid"] == TENANT


def test_the_portal_checks_the_nonce_itself_not_only_through_msal(microsoft):
    from integrations import id_token
    from tests.integrations.graph_helpers import CLIENT_ID

    now = int(time.time())
    claims = {"aud": CLIENT_ID, "iss": f"{LOGIN}/{TENANT}/v2.0", "iat": now, "nbf": now, "exp": now + 600}
    raw = microsoft_responses.signed_jwt({**claims, "tid": TENANT, "nonce": "0" * 64})

    with pytest.raises(id_token.IdTokenRefused, match="nonce"):
        id_token.validate(raw, nonce="the-flows-own-nonce")
