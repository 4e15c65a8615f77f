"""Pinning a contact's fields from the portal: who may, what is recorded, what hostile requests do."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.activity.models import Activity
from portal.customers.models import Contact, ContactPin

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(mapped, directory, sync):
    from tests.integrations.test_policies_sync import add_person

    add_person(directory, 1, jobTitle="Analyst")
    sync(mapped)
    return Contact.objects.get(email="p1@contoso.com")


def url(contact) -> str:
    return reverse("integrations:contact_pins", args=[contact.customer_id, contact.pk])


def test_an_admin_sees_each_field_with_the_directory_value(client, customer_admin, contact):
    client.force_login(customer_admin)
    Contact.objects.filter(pk=contact.pk).update(job_title="Local")

    response = client.get(url(contact))

    rows = {row["field"]: row for row in response.context["rows"]}
    assert (rows["job_title"]["local"], rows["job_title"]["directory"]) == ("Local", "Analyst")
    assert rows["site"]["directory"] == "Milan"


def test_pinning_is_saved_with_its_author_and_the_sync_then_leaves_the_field(
    client, customer_admin, contact, mapped, sync
):
    client.force_login(customer_admin)
    Contact.objects.filter(pk=contact.pk).update(job_title="Local")

    response = client.post(url(contact), {"pinned": ["job_title"]})
    sync(mapped)

    assert response.status_code == 302
    pin = ContactPin.objects.get(contact=contact)
    assert (pin.field, pin.pinned_by) == ("job_title", customer_admin)
    record = Activity.objects.get()
    assert (record.actor, record.details["added"]) == (customer_admin, ["job_title"])
    contact.refresh_from_db()
    assert contact.job_title == "Local"
    site_page = client.get(
        reverse("portal:site", args=[contact.customer_id, contact.site_id])
    ).content.decode()
    contact_page = client.get(
        reverse("portal:contact", args=[contact.customer_id, contact.pk])
    ).content.decode()
    assert "directory says “Analyst”" in site_page and "directory says “Analyst”" in contact_page
    assert url(contact) in contact_page


def test_unpinning_lets_the_directory_win_again(client, customer_admin, contact, mapped, sync):
    ContactPin.objects.create(contact=contact, field="job_title")
    Contact.objects.filter(pk=contact.pk).update(job_title="Local")
    client.force_login(customer_admin)

    client.post(url(contact), {})
    sync(mapped)

    contact.refresh_from_db()
    assert contact.job_title == "Analyst"


def test_members_403_strangers_404_and_another_customers_contact_404(
    client, customer_member, other_admin, customer_admin, contact, other_customer
):
    client.force_login(customer_member)
    assert client.post(url(contact), {"pinned": ["job_title"]}).status_code == 403
    client.force_login(other_admin)
    assert client.get(url(contact)).status_code == 404
    foreign = Contact.objects.create(customer=other_customer, email="x@fabrikam.com")
    client.force_login(customer_admin)  # an admin of A asking for B's contact through A's URL
    foreign_url = reverse("integrations:contact_pins", args=[contact.customer_id, foreign.pk])
    assert client.post(foreign_url, {"pinned": ["job_title"]}).status_code == 404
    assert not ContactPin.objects.exists()


def test_a_forged_post_and_a_hostile_field_change_nothing(client, customer_admin, contact):
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(customer_admin)
    assert forged.post(url(contact), {"pinned": ["job_title"]}).status_code == 403

    client.force_login(customer_admin)
    client.post(url(contact), {"pinned": ["email", "is_superuser", "<script>"]})

    assert not ContactPin.objects.exists()
    assert not Activity.objects.exists()
