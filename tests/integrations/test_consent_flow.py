"""The connect flow of SPEC.md section 4, through MSAL and requests at the real
Microsoft URLs (answered by `responses`), including every way to abuse it.
None of the refusals may create a connection."""

from __future__ import annotations

import time

import pytest
import responses
from django.test import Client
from django.urls import reverse

from integrations import consent
from integrations.models import AzureConnection
from tests.integrations.consent_steps import (
    consent_callback,
    logged_in,
    refused,
    return_from_sign_in,
    start,
)
from tests.integrations.consent_steps import sign_in_and_confirm as sign_in
from tests.integrations.graph_helpers import GRAPH, OTHER_TENANT, TENANT
from tests.integrations.microsoft_responses import AUTH_CODE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]


def test_a_customer_admin_connects_through_sign_in_and_consent(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:mapping", args=[customer.pk])
    connection = AzureConnection.objects.get()
    assert (connection.customer, connection.tenant_id, connection.tenant_name) == (
        customer,
        TENANT,
        "Contoso Ltd",
    )
    assert connection.connected_by == customer_admin


def test_staff_with_the_permission_can_connect_any_customer(customer, staff_with_permission, microsoft):
    client = logged_in(staff_with_permission)
    query = sign_in(client, customer, microsoft)

    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert AzureConnection.objects.filter(customer=customer).exists()


def test_consent_callback_without_state_is_refused(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    sign_in(client, customer, microsoft)

    refused(
        consent_callback(client, admin_consent="True", tenant=TENANT),
        "does not belong to a connection in progress",
    )


def test_a_reused_state_binds_nothing_once_its_connection_is_gone(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])
    AzureConnection.objects.all().delete()

    refused(
        consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]),
        "no longer in place",
    )


def test_a_second_accept_of_the_same_flow_says_already_connected(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    again = client.get(
        reverse("integrations:callback"),
        {"admin_consent": "True", "tenant": TENANT, "state": query["state"]},
        follow=True,
    )

    body = again.content.decode()
    assert "already connected" in body
    assert "Nothing was connected" not in body
    assert AzureConnection.objects.filter(customer=customer, tenant_id=TENANT).count() == 1
    assert len(microsoft.access_tokens) == 1  # the repeat proves nothing again at Microsoft


def test_an_expired_state_is_refused(customer, customer_admin, microsoft, monkeypatch):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)
    later = time.time() + consent.STATE_LIFETIME_SECONDS + 1
    monkeypatch.setattr(consent.time, "time", lambda: later)

    refused(consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]), "expired")


def test_a_state_from_another_session_is_refused(customer, customer_admin, microsoft):
    victim = logged_in(customer_admin)
    query = sign_in(victim, customer, microsoft)
    attacker = logged_in(customer_admin)  # same user, another browser session

    refused(
        consent_callback(attacker, admin_consent="True", tenant=TENANT, state=query["state"]),
        "does not belong to a connection in progress",
    )


def test_a_tenant_other_than_the_signed_in_tid_is_refused(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    refused(
        consent_callback(client, admin_consent="True", tenant=OTHER_TENANT, state=query["state"]),
        "different tenant",
    )


def test_an_error_redirect_carrying_admin_consent_true_is_refused(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    response = consent_callback(
        client,
        error="access_denied",
        error_description="AADSTS65004: User declined to consent to access the app.",
        admin_consent="True",
        tenant=TENANT,
        state=query["state"],
    )

    refused(response, "declined or cancelled")
    # ...and the state is spent: a forged success afterwards fails too.
    refused(consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]), "session")


def test_consent_not_confirmed_is_refused(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    refused(
        consent_callback(client, admin_consent="False", tenant=TENANT, state=query["state"]),
        "did not confirm",
    )


def test_a_token_without_roles_is_retried_until_the_consent_reaches_it(customer, customer_admin, microsoft):
    microsoft.app_roles = [[], [], ["User.Read.All"]]
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert AzureConnection.objects.filter(tenant_id=TENANT).exists()
    assert len(microsoft.access_tokens) == 3


def test_a_token_that_never_gets_the_role_is_refused(customer, customer_admin, microsoft):
    microsoft.app_roles = [[]]
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    refused(
        consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]),
        "User.Read.All",
    )


def test_an_admin_of_another_customer_cannot_start_the_flow(customer, other_admin, microsoft):
    response = logged_in(other_admin).post(reverse("integrations:connect", args=[customer.pk]))

    assert response.status_code == 404
    assert not AzureConnection.objects.exists()


def test_a_member_and_staff_without_the_permission_cannot_start_the_flow(
    customer, customer_member, staff_without_permission, microsoft
):
    for user in (customer_member, staff_without_permission):
        response = logged_in(user).post(reverse("integrations:connect", args=[customer.pk]))
        assert response.status_code == 403


def test_a_customer_admin_cannot_finish_a_flow_for_a_customer_they_do_not_administer(
    customer, other_customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)
    pending = client.session[consent.CONSENT_KEY]
    assert pending["customer_id"] == customer.pk  # bound to the customer it was started for
    session = client.session
    session[consent.CONSENT_KEY] = {**pending, "customer_id": other_customer.pk}
    session.save()

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert response.status_code == 404
    assert not AzureConnection.objects.exists()


def test_a_plan_without_the_feature_cannot_start_the_flow(customer, customer_admin, microsoft):
    customer.plan = "starter"
    customer.save()

    refused(
        logged_in(customer_admin).post(reverse("integrations:connect", args=[customer.pk])), "not included"
    )


def test_a_tenant_already_bound_to_another_customer_is_refused(
    customer, other_customer, customer_admin, microsoft
):
    AzureConnection.objects.create(customer=other_customer, tenant_id=TENANT)
    client = logged_in(customer_admin)
    return_from_sign_in(client, start(client, customer), microsoft)

    # Refused at the confirmation, before Microsoft is asked for a consent that could not be used
    # (tests/reliability/test_consent_attacks.py covers a binding made after Confirm).
    response = client.get(reverse("integrations:confirm"))

    assert response.status_code == 409
    assert "already connected to another customer" in response.content.decode()
    assert not AzureConnection.objects.filter(customer=customer).exists()


def test_the_sign_in_leg_refuses_a_mismatched_nonce(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = start(client, customer)
    microsoft.nonce = "someone-elses-nonce"

    response = client.get(reverse("integrations:callback"), {"code": AUTH_CODE, "state": query["state"]})

    refused(response, "Start again")


def test_an_unknown_callback_is_refused(customer_admin):
    refused(
        logged_in(customer_admin).get(reverse("integrations:callback"), {"code": "x", "state": "y"}),
        "expired",
    )


def test_the_connect_endpoint_requires_post_and_login(customer, customer_admin):
    assert (
        logged_in(customer_admin).get(reverse("integrations:connect", args=[customer.pk])).status_code == 405
    )
    response = Client().post(reverse("integrations:connect", args=[customer.pk]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_without_organization_read_the_tenant_is_named_after_the_admins_domain(
    customer, customer_admin, microsoft
):
    microsoft.rsps.replace(
        responses.GET,
        f"{GRAPH}/organization",
        status=403,
        json={"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}},
    )
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)

    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert AzureConnection.objects.get().tenant_name == "contoso.com"
