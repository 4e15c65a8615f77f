"""Sign-in secrets (PKCE verifier, nonce, state) live in the session only while
their step is pending: never after completion, cancel or their 10 minutes."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from integrations import consent
from tests.integrations.consent_steps import (
    confirm,
    consent_callback,
    logged_in,
    return_from_sign_in,
    sign_in,
    sign_in_and_confirm,
    start,
)
from tests.integrations.graph_helpers import TENANT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]


def stored(client) -> str:
    """Everything the session holds, as stored."""
    return json.dumps(dict(client.session.items()), default=str)


def later(monkeypatch, seconds: float) -> None:
    moment = time.time() + seconds
    monkeypatch.setattr(consent.time, "time", lambda: moment)


def test_nothing_of_the_sign_in_stays_after_a_completed_connection(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = start(client, customer)
    flow = client.session[consent.SIGNIN_KEY]["flow"]

    return_from_sign_in(client, query, microsoft)
    fields = {
        "flow": client.session[consent.CONFIRM_KEY]["token"],
        "customer": str(customer.pk),
        "tenant": TENANT,
    }
    consent_query = confirm(client, fields, microsoft)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=consent_query["state"])

    session = stored(client)
    for secret in (
        flow["code_verifier"],
        flow["nonce"],
        flow["state"],
        consent_query["state"],
        fields["flow"],
    ):
        assert secret not in session
    assert consent.SIGNIN_KEY not in client.session and consent.CONSENT_KEY not in client.session
    assert consent.CONFIRM_KEY not in client.session


def test_nothing_stays_after_a_cancel(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)

    client.post(reverse("integrations:confirm_cancel"), fields)

    assert not any(key in client.session for key in consent.FLOW_KEYS)


@pytest.mark.parametrize("step", ["sign-in", "confirmation", "consent"])
def test_an_abandoned_flow_is_gone_after_its_ten_minutes(
    customer, customer_admin, microsoft, monkeypatch, step
):
    client = logged_in(customer_admin)
    if step == "sign-in":
        start(client, customer)
    elif step == "confirmation":
        sign_in(client, customer, microsoft)
    else:
        sign_in_and_confirm(client, customer, microsoft)
    assert any(key in client.session for key in consent.FLOW_KEYS)
    later(monkeypatch, consent.STATE_LIFETIME_SECONDS + 1)

    client.get(reverse("integrations:confirm"))  # any step of the flow tidies up

    assert not any(key in client.session for key in consent.FLOW_KEYS)


def test_the_completion_marker_holds_no_secret_and_expires(customer, customer_admin, microsoft, monkeypatch):
    client = logged_in(customer_admin)
    query = sign_in_and_confirm(client, customer, microsoft)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    done = client.session[consent.DONE_KEY]
    assert query["state"] not in json.dumps(done)
    later(monkeypatch, consent.STATE_LIFETIME_SECONDS + 1)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert consent.DONE_KEY not in client.session


def test_a_new_start_replaces_the_previous_flow_of_the_session(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    sign_in_and_confirm(client, customer, microsoft)

    start(client, customer)

    assert set(consent.FLOW_KEYS) & set(client.session.keys()) == {consent.SIGNIN_KEY}
