"""Inactive contacts (leavers) and pinned fields as the portal and the admin show them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.models import AzureConnection, DirectoryUser
from portal.customers.models import Contact, ContactPin

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts(customer, site):
    connection = AzureConnection.objects.create(customer=customer, tenant_id="t-1", tenant_name="Contoso")
    DirectoryUser.objects.create(
        connection=connection, object_id="oid-1", job_title="Analyst", mail="a@c.com"
    )
    left = Contact.objects.create(
        customer=customer, site=site, email="left@c.com", last_name="Gone", is_active=False
    )
    pinned = Contact.objects.create(
        customer=customer,
        site=site,
        email="a@c.com",
        last_name="Pinned",
        job_title="Lead",
        azure_object_id="oid-1",
    )
    ContactPin.objects.create(contact=pinned, field="job_title")
    Contact.objects.create(customer=customer, site=site, email="here@c.com", last_name="Here")
    return left, pinned


def site_page(client, site, **params):
    return client.get(reverse("portal:site", args=[site.customer_id, site.pk]), params)


def test_inactive_contacts_are_listed_greyed_out_not_hidden(client, customer_member, site, contacts):
    client.force_login(customer_member)

    html = site_page(client, site).content.decode()

    assert "left@c.com" in html
    assert '<tr class="inactive">' in html
    assert html.count('class="inactive"') == 1
    assert "data-inactive" in html


def test_the_site_page_filters_active_and_inactive_contacts(client, customer_member, site, contacts):
    client.force_login(customer_member)

    inactive = [c.email for c in site_page(client, site, status="inactive").context["page"]]
    active = [c.email for c in site_page(client, site, status="active").context["page"]]
    hostile = [c.email for c in site_page(client, site, status="' OR 1=1 --").context["page"]]

    assert inactive == ["left@c.com"]
    assert sorted(active) == ["a@c.com", "here@c.com"]
    assert len(hostile) == 3  # a bad value counts as absent (portal/query.py)


def test_a_pinned_field_shows_what_the_directory_says(client, customer_member, site, contacts):
    client.force_login(customer_member)

    html = site_page(client, site).content.decode()

    assert "Job title pinned at “Lead”; directory says “Analyst”" in html


def test_the_admin_lists_filters_and_shows_pins_and_divergences(client, superuser, contacts):
    _left, pinned = contacts
    client.force_login(superuser)

    listing = client.get(reverse("admin:customers_contact_changelist"), {"is_active__exact": "0"})
    change = client.get(reverse("admin:customers_contact_change", args=[pinned.pk]))

    assert [c.email for c in listing.context["cl"].result_list] == ["left@c.com"]
    assert "Analyst" in change.content.decode() and "Pinned fields" in change.content.decode()


def test_a_pin_added_in_the_admin_records_who_pinned_it(client, superuser, contacts):
    left, _pinned = contacts
    client.force_login(superuser)
    url = reverse("admin:customers_contact_change", args=[left.pk])
    form = client.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name != "id"}
    data.update(
        {
            "customer": left.customer_id,
            "site": left.site_id,
            "pins-TOTAL_FORMS": "1",
            "pins-INITIAL_FORMS": "0",
            "pins-MIN_NUM_FORMS": "0",
            "pins-MAX_NUM_FORMS": "1000",
            "pins-0-field": "mobile_phone",
        }
    )
    data.pop("is_active", None)  # an unchecked box: the contact stays inactive

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    pin = ContactPin.objects.get(contact=left)
    assert (pin.field, pin.pinned_by) == ("mobile_phone", superuser)


def test_the_contact_page_shows_the_status_the_pins_and_what_the_directory_says(
    client, customer_admin, contacts
):
    left, pinned = contacts
    client.force_login(customer_admin)

    pinned_page = client.get(reverse("portal:contact", args=[pinned.customer_id, pinned.pk])).content.decode()
    left_page = client.get(reverse("portal:contact", args=[left.customer_id, left.pk])).content.decode()

    assert "Job title pinned at “Lead”; directory says “Analyst”" in pinned_page
    assert reverse("integrations:contact_pins", args=[pinned.customer_id, pinned.pk]) in pinned_page
    assert "data-inactive" in left_page and "inactive-card" in left_page
