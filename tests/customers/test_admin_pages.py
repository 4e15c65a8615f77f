"""The staff admin for customers, sites, contacts and memberships renders:
changelists (with a search), add pages and change pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.customers.models import Contact, Customer, Membership, Site

MODELS = ["customer", "site", "contact", "membership"]


@pytest.fixture
def populated(customer, site, contact, customer_admin, other_customer):
    """One object of each model, so changelists render rows, not only an empty table."""
    return {
        "customer": customer,
        "site": site,
        "contact": contact,
        "membership": Membership.objects.get(user=customer_admin),
    }


@pytest.fixture
def admin_client_(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders(admin_client_, populated, model):
    response = admin_client_.get(reverse(f"admin:customers_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize(("model", "query"), [(m, q) for m in MODELS for q in ["contoso", "Ada", "zzz"]])
def test_changelist_search_renders(admin_client_, populated, model, query):
    response = admin_client_.get(reverse(f"admin:customers_{model}_changelist"), {"q": query})

    assert response.status_code == 200


def test_contact_search_finds_by_email_case_insensitively(admin_client_, populated):
    response = admin_client_.get(reverse("admin:customers_contact_changelist"), {"q": "ADA.lovelace"})

    assert list(response.context["cl"].result_list) == [populated["contact"]]


@pytest.mark.parametrize("model", MODELS)
def test_add_page_renders(admin_client_, db, model):
    response = admin_client_.get(reverse(f"admin:customers_{model}_add"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_change_page_renders(admin_client_, populated, model):
    obj = populated[model]

    response = admin_client_.get(reverse(f"admin:customers_{model}_change", args=[obj.pk]))

    assert response.status_code == 200


def test_customer_changelist_counts_sites_and_contacts(admin_client_, populated):
    response = admin_client_.get(reverse("admin:customers_customer_changelist"))

    rows = {c.name: (c._site_count, c._contact_count) for c in response.context["cl"].result_list}
    assert rows == {"Contoso": (1, 1), "Fabrikam": (0, 0)}


def filter_choices(response, field: str) -> set[str]:
    """The labels a changelist's related-object filter offers (Django hides a
    filter with a single choice, so tests offer at least two)."""
    for spec in response.context["cl"].filter_specs:
        if getattr(spec, "field_path", None) == field:
            return {label for _pk, label in spec.lookup_choices}
    raise AssertionError(f"no filter on {field}")


def test_contact_filters_list_only_customers_and_sites_with_contacts(
    admin_client_, populated, other_customer, other_site
):
    Contact.objects.create(customer=other_customer, site=other_site, email="x@fabrikam.com")
    empty = Customer.objects.create(name="Empty Co")
    Site.objects.create(customer=empty, name="Nowhere")

    response = admin_client_.get(reverse("admin:customers_contact_changelist"))

    assert filter_choices(response, "customer") == {"Contoso", "Fabrikam"}
    assert filter_choices(response, "site") == {"Milan", "Rome"}


def test_site_customer_filter_lists_only_customers_with_sites(admin_client_, populated, other_site):
    Customer.objects.create(name="Empty Co")

    response = admin_client_.get(reverse("admin:customers_site_changelist"))

    assert filter_choices(response, "customer") == {"Contoso", "Fabrikam"}


def test_adding_a_contact_with_a_case_variant_email_shows_the_error(admin_client_, populated):
    customer, site = populated["customer"], populated["site"]

    response = admin_client_.post(
        reverse("admin:customers_contact_add"),
        {"customer": customer.pk, "site": site.pk, "email": "ADA.LOVELACE@contoso.com"},
    )

    assert response.status_code == 200
    assert "A contact with this email already exists for this customer." in response.content.decode()
    assert Contact.objects.count() == 1


def test_a_site_name_is_unique_per_customer_in_the_admin(admin_client_, populated, other_customer):
    url = reverse("admin:customers_site_add")

    duplicate = admin_client_.post(url, {"customer": populated["customer"].pk, "name": "Milan"})
    elsewhere = admin_client_.post(url, {"customer": other_customer.pk, "name": "Milan"})

    assert duplicate.status_code == 200  # the form again, with the error
    assert elsewhere.status_code == 302
    assert Site.objects.filter(name="Milan").count() == 2
