"""SPEC.md 4.4: between sign-in and consent the portal names the tenant beside the
customer; only the Confirm POST of this session, once, goes on to consent."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from integrations import consent
from integrations.models import AzureConnection
from portal.customers.models import Contact, Membership
from tests.integrations.consent_steps import (
    confirm,
    confirmation_fields,
    consent_callback,
    logged_in,
    refused,
    return_from_sign_in,
    sign_in,
    start,
)
from tests.integrations.graph_helpers import TENANT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]


def test_the_confirmation_names_the_tenant_its_id_and_domains_beside_the_customer(
    customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    sign_in(client, customer, microsoft)

    page = client.get(reverse("integrations:confirm")).content.decode()

    assert re.search(r'id="confirm-customer">Contoso<', page)
    assert re.search(r'id="confirm-tenant">Contoso Ltd<', page)
    assert TENANT in page
    assert "contoso.com, contoso.onmicrosoft.com" in page
    assert "admin@contoso.com" in page


def test_the_sign_in_alone_binds_nothing_and_issues_no_consent_state(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = start(client, customer)

    response = return_from_sign_in(client, query, microsoft)

    assert response["Location"] == reverse("integrations:confirm")
    assert consent.CONSENT_KEY not in client.session
    # Forging the consent leg now, with the only state the visitor ever saw, binds nothing.
    refused(consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]), "Nothing")


def test_confirm_is_single_use(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    first = confirm(client, fields, microsoft)

    again = client.post(reverse("integrations:confirm"), fields)

    refused(again, "not the one waiting in your session")
    assert client.session[consent.CONSENT_KEY]["state"] == first["state"]  # the first one still stands


def test_confirm_is_bound_to_its_session(customer, customer_admin, microsoft):
    victim = logged_in(customer_admin)
    fields = sign_in(victim, customer, microsoft)
    attacker = logged_in(customer_admin)  # same user, another browser session

    refused(attacker.post(reverse("integrations:confirm"), fields), "not the one waiting in your session")

    assert consent.CONSENT_KEY not in attacker.session
    assert victim.session[consent.CONFIRM_KEY]["token"] == fields["flow"]  # the victim can still confirm
    confirm(victim, fields, microsoft)


def test_confirm_is_bound_to_its_user(customer, customer_admin, staff_with_permission, microsoft):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    client.force_login(staff_with_permission)  # Django flushes the session on a login as someone else

    refused(client.post(reverse("integrations:confirm"), fields), "not the one waiting")


@pytest.mark.parametrize("field", ["flow", "customer", "tenant"])
def test_a_tampered_hidden_field_is_refused_and_consumes_nothing(
    customer, other_customer, customer_admin, microsoft, field
):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    tampered = {
        **fields,
        field: {"flow": "x" * 43, "customer": str(other_customer.pk), "tenant": TENANT[::-1]}[field],
    }

    response = client.post(reverse("integrations:confirm"), tampered)

    assert response.status_code in (400, 404)
    assert consent.CONSENT_KEY not in client.session
    assert consent.CONFIRM_KEY in client.session


def test_confirm_needs_the_csrf_token(customer, customer_admin, microsoft):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_admin)
    fields = {"flow": "x", "customer": str(customer.pk), "tenant": TENANT}

    assert client.post(reverse("integrations:confirm"), fields).status_code == 403


def test_confirm_needs_login(customer):
    response = Client().post(reverse("integrations:confirm"), {"customer": customer.pk})

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_confirmation_page_without_a_sign_in_shows_nothing_to_confirm(customer_admin):
    response = logged_in(customer_admin).get(reverse("integrations:confirm"))

    assert response.status_code == 404
    assert "no connection waiting" in response.content.decode()


def test_cancel_binds_nothing_and_offers_to_start_again(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)

    response = client.post(reverse("integrations:confirm_cancel"), fields)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was connected" in page and "Start again" in page
    assert reverse("integrations:connect", args=[customer.pk]) in page
    assert not any(key in client.session for key in consent.FLOW_KEYS)
    refused(client.post(reverse("integrations:confirm"), fields), "not the one waiting")


def test_cancel_is_its_own_form_never_a_second_button_of_the_confirm_form(
    customer, customer_admin, microsoft
):
    client = logged_in(customer_admin)
    sign_in(client, customer, microsoft)

    page = client.get(reverse("integrations:confirm")).content.decode()

    forms = re.findall(r'<form method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    confirm_form = [body for action, body in forms if action == reverse("integrations:confirm")]
    assert len(confirm_form) == 1 and confirm_form[0].count("<button") == 1
    assert "csrfmiddlewaretoken" in confirm_form[0]
    assert any(action == reverse("integrations:confirm_cancel") for action, _body in forms)


def test_a_tenant_whose_domains_match_no_contact_shows_a_warning(customer, customer_admin, microsoft, site):
    Contact.objects.create(customer=customer, site=site, email="someone@fabrikam.com")
    client = logged_in(customer_admin)
    sign_in(client, customer, microsoft)

    page = client.get(reverse("integrations:confirm")).content.decode()

    assert 'id="domain-warning"' in page and 'role="alert"' in page


def test_a_tenant_whose_domain_matches_a_contact_shows_no_warning(customer, customer_admin, microsoft, site):
    Contact.objects.create(customer=customer, site=site, email="someone@fabrikam.com")
    Contact.objects.create(customer=customer, site=site, email="Ada@CONTOSO.com")
    client = logged_in(customer_admin)
    sign_in(client, customer, microsoft)

    page = client.get(reverse("integrations:confirm")).content.decode()

    assert 'id="domain-warning"' not in page and 'id="domain-match"' in page


def test_a_customer_without_contacts_gets_a_neutral_note(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    sign_in(client, customer, microsoft)

    page = client.get(reverse("integrations:confirm")).content.decode()

    assert 'id="domain-warning"' not in page and 'id="domain-neutral"' in page


def test_a_user_who_lost_the_customer_before_confirming_cannot_confirm(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)
    Membership.objects.filter(user=customer_admin).delete()

    response = client.post(reverse("integrations:confirm"), fields)

    assert response.status_code == 404
    assert consent.CONSENT_KEY not in client.session
    assert not AzureConnection.objects.exists()


def test_the_confirmation_page_shows_what_it_will_post(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    fields = sign_in(client, customer, microsoft)

    assert fields == {
        "flow": client.session[consent.CONFIRM_KEY]["token"],
        "customer": str(customer.pk),
        "tenant": TENANT,
    }
    assert confirmation_fields(client.get(reverse("integrations:confirm"))) == fields
