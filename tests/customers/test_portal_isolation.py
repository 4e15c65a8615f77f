"""The isolation matrix: a member (admin or not) of customer A gets 404 on every
portal page of customer B, exactly as for a customer that does not exist, and
anonymous visitors are sent to the login page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portal.customers.models import Membership
from tests.conftest import make_user

MISSING_ID = 987654


def customer_pages(customer_id: int, site_id: int) -> dict[str, str]:
    """Every portal page that belongs to one customer."""
    site_url = reverse("portal:site", args=[customer_id, site_id])
    return {
        "customer": reverse("portal:customer", args=[customer_id]),
        "site": site_url,
        "site-search": f"{site_url}?q=a",
        "site-page-2": f"{site_url}?page=2",
    }


PAGE_NAMES = list(customer_pages(1, 1))


@pytest.fixture(params=[Membership.Role.ADMIN, Membership.Role.MEMBER])
def member_of_a(request, customer):
    return make_user(f"a-{request.param}", customer=customer, role=request.param)


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_a_member_of_a_gets_404_on_every_page_of_b(client, member_of_a, other_customer, other_site, page):
    client.force_login(member_of_a)

    response = client.get(customer_pages(other_customer.pk, other_site.pk)[page])

    assert response.status_code == 404


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_a_member_of_a_gets_200_on_the_same_pages_of_a(client, member_of_a, customer, site, page):
    client.force_login(member_of_a)

    response = client.get(customer_pages(customer.pk, site.pk)[page])

    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_b_answers_exactly_like_a_customer_that_does_not_exist(
    client, member_of_a, other_customer, other_site, page
):
    client.force_login(member_of_a)

    foreign = client.get(customer_pages(other_customer.pk, other_site.pk)[page])
    missing = client.get(customer_pages(MISSING_ID, MISSING_ID)[page])

    assert (foreign.status_code, _without_csrf(foreign.content)) == (
        missing.status_code,
        _without_csrf(missing.content),
    )


def _without_csrf(content: bytes) -> bytes:
    """The styled 404 page has the logout form, whose CSRF token is masked anew on every response,
    and the language switch, which returns to the requested path (the URL the visitor typed)."""
    content = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)
    return re.sub(rb'name="next" value="[^"]*"', b"", content)


def test_a_site_of_b_is_404_under_the_url_of_a(client, member_of_a, customer, other_site):
    client.force_login(member_of_a)

    assert client.get(reverse("portal:site", args=[customer.pk, other_site.pk])).status_code == 404


def test_a_site_of_a_is_404_under_the_url_of_b(client, member_of_a, other_customer, site):
    client.force_login(member_of_a)

    assert client.get(reverse("portal:site", args=[other_customer.pk, site.pk])).status_code == 404


def test_a_member_of_a_does_not_see_b_on_the_home_page(client, member_of_a, other_customer):
    client.force_login(member_of_a)

    response = client.get(reverse("portal:home"))

    assert response.status_code == 200
    assert list(response.context["customers"]) == [member_of_a.memberships.get().customer]
    assert other_customer.name not in response.content.decode()


def test_a_user_with_no_membership_gets_404_on_every_customer_page(client, customer, site):
    client.force_login(make_user("nobody"))

    for url in customer_pages(customer.pk, site.pk).values():
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("page", ["home", *PAGE_NAMES])
def test_anonymous_visitors_are_sent_to_login(client, customer, site, page):
    url = reverse("portal:home") if page == "home" else customer_pages(customer.pk, site.pk)[page]

    response = client.get(url)

    assert response.status_code == 302
    login_url = reverse("login")
    assert response["Location"].startswith(f"{login_url}?next=")
