"""The customer portal's own pages: login and logout, the home page, the
customer page and a site's contacts with search and pagination."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.customers.models import Contact, Customer, Membership, Plan, Site
from portal.customers.views import CONTACTS_PER_PAGE
from tests.conftest import make_user


def test_anonymous_home_redirects_to_login_and_back(client):
    response = client.get(reverse("portal:home"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_the_login_page_renders(client, db):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b"Log in" in response.content


def test_logging_in_leads_to_the_home_page(client, customer_member):
    response = client.post(reverse("login"), {"username": "bob", "password": "pw-bob"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert response.context["user"] == customer_member


def test_a_wrong_password_shows_an_error(client, customer_member):
    response = client.post(reverse("login"), {"username": "bob", "password": "wrong"})

    assert response.status_code == 200
    assert b"didn't match" in response.content
    assert not response.context["user"].is_authenticated


def test_logging_out_ends_the_session(client, customer_member):
    client.force_login(customer_member)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("portal:home")).status_code == 302


def test_home_lists_only_the_users_customers(client, customer, other_customer):
    third = Customer.objects.create(name="Northwind", plan=Plan.PROFESSIONAL)
    user = make_user("carol", customer=customer)
    Membership.objects.create(user=user, customer=third, role=Membership.Role.ADMIN)
    client.force_login(user)

    response = client.get(reverse("portal:home"))

    assert [c.name for c in response.context["customers"]] == ["Contoso", "Northwind"]
    content = response.content.decode()
    assert reverse("portal:customer", args=[customer.pk]) in content
    assert reverse("portal:customer", args=[third.pk]) in content
    assert other_customer.name not in content


def test_home_explains_when_the_user_belongs_to_no_customer(client, customer):
    client.force_login(make_user("loner"))

    response = client.get(reverse("portal:home"))

    assert b"not a member of any customer" in response.content


def test_customer_page_lists_sites_with_their_contact_counts(client, customer, site, customer_member):
    empty = Site.objects.create(customer=customer, name="Turin")
    for i in range(3):
        Contact.objects.create(customer=customer, site=site, email=f"p{i}@contoso.com")
    Contact.objects.create(customer=customer, site=None, email="unplaced@contoso.com")
    client.force_login(customer_member)

    response = client.get(reverse("portal:customer", args=[customer.pk]))

    assert response.status_code == 200
    counts = {s.name: s.contact_count for s in response.context["sites"]}
    assert counts == {"Milan": 3, "Turin": 0}
    assert response.context["contact_count"] == 4
    assert response.context["unplaced_count"] == 1
    content = response.content.decode()
    assert reverse("portal:site", args=[customer.pk, empty.pk]) in content
    assert "4 contacts, 1 not placed in a site" in content


@pytest.fixture
def milan_contacts(customer, site) -> list[Contact]:
    people = [
        ("Ada", "Lovelace", "CTO"),
        ("Grace", "Hopper", "Rear Admiral"),
        ("Zoë", "Müller", "Office Manager"),
        ("Alan", "Turing", "Cryptanalyst"),
    ]
    return [
        Contact.objects.create(
            customer=customer,
            site=site,
            email=f"{first.lower()}@contoso.com",
            first_name=first,
            last_name=last,
            job_title=title,
        )
        for first, last, title in people
    ]


def site_page(client, customer, site, **params):
    return client.get(reverse("portal:site", args=[customer.pk, site.pk]), params)


def emails(response) -> list[str]:
    return [c.email for c in response.context["page"]]


def test_site_page_lists_the_sites_contacts_only(client, customer, site, customer_member, milan_contacts):
    rome = Site.objects.create(customer=customer, name="Rome")
    Contact.objects.create(customer=customer, site=rome, email="elsewhere@contoso.com")
    client.force_login(customer_member)

    response = site_page(client, customer, site)

    assert response.status_code == 200
    assert sorted(emails(response)) == sorted(c.email for c in milan_contacts)
    assert b"elsewhere@contoso.com" not in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lovelace", ["ada@contoso.com"]),  # last name, any case
        ("GRACE", ["grace@contoso.com"]),  # first name
        ("turing", ["alan@contoso.com"]),
        ("alan@", ["alan@contoso.com"]),  # email
        ("office man", ["zoë@contoso.com"]),  # job title
        ("müller", ["zoë@contoso.com"]),  # beyond ASCII
        ("  hopper  ", ["grace@contoso.com"]),  # trimmed
        ("nobody-matches", []),
    ],
)
def test_site_search_matches_name_email_and_title(
    client, customer, site, customer_member, milan_contacts, query, expected
):
    client.force_login(customer_member)

    response = site_page(client, customer, site, q=query)

    assert emails(response) == expected


def test_site_search_with_no_match_says_so(client, customer, site, customer_member, milan_contacts):
    client.force_login(customer_member)

    response = site_page(client, customer, site, q="nobody-matches")

    assert b"No contacts match your search" in response.content


@pytest.fixture
def many_contacts(customer, site) -> int:
    total = CONTACTS_PER_PAGE + 7
    Contact.objects.bulk_create(
        Contact(customer=customer, site=site, email=f"user{i:03d}@contoso.com", last_name=f"User {i:03d}")
        for i in range(total)
    )
    return total


def test_site_page_paginates_contacts(client, customer, site, customer_member, many_contacts):
    client.force_login(customer_member)

    first = site_page(client, customer, site)
    second = site_page(client, customer, site, page=2)

    assert len(first.context["page"]) == CONTACTS_PER_PAGE
    assert len(second.context["page"]) == many_contacts - CONTACTS_PER_PAGE
    assert not set(emails(first)) & set(emails(second))
    assert b"Page 1 of 2" in first.content
    assert b'href="?page=2"' in first.content


def test_pagination_links_keep_the_search(client, customer, site, customer_member, many_contacts):
    client.force_login(customer_member)

    response = site_page(client, customer, site, q="user 0")

    assert response.context["page"].paginator.count == many_contacts  # every last name matches
    assert b'href="?q=user%200&amp;page=2"' in response.content


def test_an_out_of_range_page_shows_the_last_page(client, customer, site, customer_member, many_contacts):
    client.force_login(customer_member)

    assert site_page(client, customer, site, page=99).context["page"].number == 2
    assert site_page(client, customer, site, page="nonsense").context["page"].number == 1


def test_site_page_marks_shared_mailboxes(client, customer, site, customer_member):
    Contact.objects.create(customer=customer, site=site, email="info@contoso.com", is_shared_mailbox=True)
    client.force_login(customer_member)

    assert b"shared mailbox" in site_page(client, customer, site).content
