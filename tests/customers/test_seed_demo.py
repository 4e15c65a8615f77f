"""`manage.py seed_demo` loads the demo data once, however often it runs, and
prints logins that work."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from portal.customers.models import Contact, Customer, Membership, Plan, Site

pytestmark = pytest.mark.django_db

LOGIN_LINE = re.compile(r"username: (\S+)\s+password: (\S+)")


def seed(*args: str) -> tuple[str, dict[str, str]]:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    text = out.getvalue()
    return text, dict(LOGIN_LINE.findall(text))


def snapshot() -> tuple[int, int, int, int, int]:
    return (
        Customer.objects.count(),
        Site.objects.count(),
        Contact.objects.count(),
        Membership.objects.count(),
        User.objects.count(),
    )


def test_it_creates_the_demo_customers_on_their_plans():
    seed()

    plans = dict(Customer.objects.values_list("name", "plan"))
    assert plans == {
        "Contoso Ltd": Plan.ENTERPRISE,
        "Fabrikam Inc": Plan.SUPERPOWER,
        "Northwind Traders": Plan.PROFESSIONAL,
    }
    assert [c.azure_sync_available for c in Customer.objects.order_by("name")] == [True, True, False]
    for customer in Customer.objects.all():
        assert customer.sites.count() >= 2
        assert customer.contacts.count() >= 20
        assert customer.contacts.filter(site__isnull=True).count() == 0
    assert Contact.objects.filter(first_name__in=["Zoë", "José", "Łukasz", "Søren"]).exists()
    assert Contact.objects.filter(is_shared_mailbox=True).count() == 3


def test_it_is_idempotent():
    seed()
    before = snapshot()

    text, _ = seed()

    assert snapshot() == before
    assert "0 customers, 0 sites and 0 contacts created" in text


def test_it_leaves_edited_demo_data_alone():
    seed()
    contact = Contact.objects.get(email="ada.lovelace@contoso.com")
    contact.job_title = "Edited in the portal"
    contact.save()

    seed()

    contact.refresh_from_db()
    assert contact.job_title == "Edited in the portal"


def login_request():
    """django-axes counts login attempts per request (client address), so it needs one."""
    return RequestFactory().post("/accounts/login/")


def test_it_prints_logins_that_work():
    text, logins = seed()

    assert set(logins) == {"staff", "contoso-admin", "contoso-user"}
    assert "http://127.0.0.1:8000/" in text
    for username, password in logins.items():
        assert authenticate(login_request(), username=username, password=password) is not None, username


def test_each_run_sets_new_random_passwords():
    _, first = seed()
    _, second = seed()

    for username in first:
        assert first[username] != second[username]
        assert authenticate(login_request(), username=username, password=first[username]) is None
        assert authenticate(login_request(), username=username, password=second[username]) is not None


def test_a_fixed_password_can_be_given():
    _, logins = seed("--password", "demo-Password-1")

    assert set(logins.values()) == {"demo-Password-1"}
    assert authenticate(login_request(), username="contoso-user", password="demo-Password-1") is not None


def test_the_printed_url_can_be_changed():
    text, _ = seed("--url", "http://127.0.0.1:9000")

    assert "Portal: http://127.0.0.1:9000/" in text


def test_the_staff_user_manages_customers_and_azure_but_is_not_a_superuser():
    seed()

    staff = User.objects.get(username="staff")
    assert staff.is_staff
    assert not staff.is_superuser
    assert staff.has_perm("integrations.manage_azure")
    for action in ["view", "add", "change", "delete"]:
        for model in ["customer", "site", "contact", "membership"]:
            assert staff.has_perm(f"customers.{action}_{model}")
    assert not Membership.objects.filter(user=staff).exists()


def test_the_contoso_users_have_their_roles_and_no_admin_access():
    seed()

    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"contoso-admin": Membership.Role.ADMIN, "contoso-user": Membership.Role.MEMBER}
    assert set(Membership.objects.values_list("customer__name", flat=True)) == {"Contoso Ltd"}
    assert not User.objects.filter(username__startswith="contoso-", is_staff=True).exists()


def test_the_customer_admin_sees_contoso_in_the_portal(client):
    _, logins = seed()

    assert client.login(request=login_request(), username="contoso-admin", password=logins["contoso-admin"])
    response = client.get(reverse("portal:home"))

    assert [c.name for c in response.context["customers"]] == ["Contoso Ltd"]
