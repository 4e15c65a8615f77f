"""SPEC.md 4.1 and 4.5: the callback cannot be used to annoy, Microsoft's errors
are told in our words, a fresh consent is waited for, and a named tenant is
signed in to as such (a guest or partner administrator)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations import consent
from integrations.models import AzureConnection
from tests.integrations.consent_steps import (
    confirm,
    consent_callback,
    logged_in,
    refused,
    return_from_sign_in,
    sign_in,
    sign_in_and_confirm,
    start,
)
from tests.integrations.graph_helpers import LOGIN, OTHER_TENANT, TENANT, openid_configuration

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]

MSP_TENANT = "7c1e5d2a-9b8f-4e3d-a2c1-0f9e8d7c6b5a"


def test_a_mismatched_consent_callback_leaves_the_flow_in_progress_intact(
    customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    query = sign_in_and_confirm(client, customer, microsoft)

    # A link someone sends the victim: the old code popped the victim's state here.
    refused(consent_callback(client, tenant=OTHER_TENANT), "does not belong to a connection in progress")
    refused(consent_callback(client, admin_consent="True", tenant=TENANT, state="guess"), "does not belong")
    refused(
        consent_callback(client, error="access_denied", admin_consent="True", tenant=TENANT, state="guess"),
        "declined",
    )

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])
    assert response["Location"] == reverse("integrations:mapping", args=[customer.pk])
    assert AzureConnection.objects.get().tenant_id == TENANT


def test_a_mismatched_sign_in_callback_leaves_the_sign_in_in_progress_intact(
    customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    query = start(client, customer)

    refused(client.get(reverse("integrations:callback"), {"code": "x", "state": "guess"}), "does not belong")
    refused(client.get(reverse("integrations:callback"), {"error": "access_denied"}), "declined")

    assert return_from_sign_in(client, query, microsoft)["Location"] == reverse("integrations:confirm")


def test_microsofts_error_description_is_never_shown_verbatim(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in_and_confirm(client, customer, microsoft)
    description = "AADSTS90094: <b>Trace ID</b> 1234 Correlation ID 5678 secret-ish words from Microsoft"

    body = refused(
        consent_callback(
            client,
            error="consent_required",
            error_description=description,
            admin_consent="True",
            tenant=TENANT,
            state=query["state"],
        ),
        "Global Administrator",
    )

    assert "Trace ID" not in body and "Correlation" not in body and "secret-ish" not in body
    assert "consent_required AADSTS90094" in body  # the code is shown


def test_an_unknown_error_code_gets_a_generic_sentence_and_its_code(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in_and_confirm(client, customer, microsoft)

    body = refused(
        consent_callback(
            client,
            error="weird_error",
            error_description="AADSTS4242: something new",
            admin_consent="True",
            tenant=TENANT,
            state=query["state"],
        ),
        "Microsoft returned an error.",
    )

    assert "weird_error AADSTS4242" in body and "something new" not in body


def test_a_cancelled_consent_offers_to_try_again_and_spends_its_state(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in_and_confirm(client, customer, microsoft)

    body = refused(
        consent_callback(
            client,
            error="access_denied",
            error_subcode="cancel",
            error_description="AADSTS65004: User declined to consent to access the app.",
            admin_consent="True",
            tenant=TENANT,
            state=query["state"],
        ),
        "declined or cancelled",
    )

    assert "Try again" in body and reverse("integrations:connect", args=[customer.pk]) in body
    refused(consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]), "Nothing")


def test_a_cancelled_sign_in_offers_to_try_again(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = start(client, customer)

    body = refused(
        client.get(
            reverse("integrations:callback"),
            {"error": "access_denied", "error_description": "AADSTS65004: declined", "state": query["state"]},
        ),
        "declined or cancelled",
    )

    assert "Try again" in body
    assert consent.SIGNIN_KEY not in client.session


def test_token_endpoint_errors_right_after_consent_are_retried(customer, customer_admin, microsoft):
    not_yet = {
        "error": "unauthorized_client",
        "error_description": "AADSTS700016: Application with identifier 'x' was not found in the directory.",
        "error_codes": [700016],
    }
    microsoft.app_token_errors = [not_yet, not_yet]
    client = logged_in(customer_admin)
    query = sign_in_and_confirm(client, customer, microsoft)

    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    assert response["Location"] == reverse("integrations:mapping", args=[customer.pk])
    assert AzureConnection.objects.get().tenant_id == TENANT


def test_the_connect_form_signs_in_to_a_named_tenant(customer, customer_admin, microsoft):
    microsoft.rsps.get(
        f"{LOGIN}/contoso.com/v2.0/.well-known/openid-configuration",
        json=openid_configuration("contoso.com", TENANT),
    )
    client = logged_in(customer_admin)

    query = sign_in_and_confirm(client, customer, microsoft, tenant="contoso.com", authority=TENANT)

    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])
    assert AzureConnection.objects.get(customer=customer).tenant_id == TENANT


def test_a_guest_administrator_signing_in_to_a_named_tenant_binds_that_tenant(
    customer, staff_with_permission, microsoft
):
    # An MSP technician: home tenant MSP_TENANT, Global Administrator in the customer's tenant.
    microsoft.username = "tech@msp.example"
    microsoft.id_claims = {"idp": f"https://sts.windows.net/{MSP_TENANT}/"}
    client = logged_in(staff_with_permission)

    fields = sign_in(client, customer, microsoft, tenant=TENANT, authority=TENANT)
    page = client.get(reverse("integrations:confirm")).content.decode()
    assert "guest or partner administrator" in page and "tech@msp.example" in page
    query = confirm(client, fields, microsoft)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    connection = AzureConnection.objects.get(customer=customer)
    assert connection.tenant_id == TENANT
    assert connection.tenant_name == "Contoso Ltd"  # never the technician's home domain


@pytest.mark.parametrize("hint", ["not a domain", "../organizations", "x" * 300, "contoso"])
def test_a_tenant_field_that_is_no_domain_or_id_is_refused_before_microsoft(customer, customer_admin, hint):
    response = logged_in(customer_admin).post(
        reverse("integrations:connect", args=[customer.pk]), {"tenant": hint}
    )

    assert response.status_code == 400
    assert "neither a domain name nor a tenant id" in response.content.decode()
    assert not AzureConnection.objects.exists()


def test_a_tenant_microsoft_does_not_know_is_refused_with_a_retry(customer, customer_admin, microsoft):
    microsoft.rsps.get(
        f"{LOGIN}/unknown.example/v2.0/.well-known/openid-configuration",
        status=400,
        json={
            "error": "invalid_tenant",
            "error_description": "AADSTS90002: Tenant 'unknown.example' not found.",
        },
    )

    response = logged_in(customer_admin).post(
        reverse("integrations:connect", args=[customer.pk]), {"tenant": "unknown.example"}
    )

    assert "does not know the tenant" in response.content.decode()
    assert "Try again" in response.content.decode()


def test_the_portal_and_admin_connect_forms_offer_the_optional_tenant_field(
    customer, customer_admin, staff_with_permission
):
    portal_page = logged_in(customer_admin).get(reverse("integrations:manage", args=[customer.pk]))
    admin_page = logged_in(staff_with_permission).get(
        reverse("admin:customers_customer_azure_import", args=[customer.pk])
    )

    for page in (portal_page, admin_page):
        html = page.content.decode()
        assert page.status_code == 200
        form = html[html.index(reverse("integrations:connect", args=[customer.pk])) :]
        assert 'name="tenant"' in form[: form.index("</form>")]
