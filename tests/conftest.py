"""Shared fixtures. Tests run against the database `DATABASE_URL` names
(PostgreSQL in CI) or the default SQLite file."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import translation

from portal.customers.models import Contact, Customer, Membership, Plan, Site


@pytest.fixture
def customer(db) -> Customer:
    return Customer.objects.create(name="Contoso", plan=Plan.ENTERPRISE)


@pytest.fixture
def other_customer(db) -> Customer:
    return Customer.objects.create(name="Fabrikam", plan=Plan.ENTERPRISE)


@pytest.fixture
def site(customer) -> Site:
    return Site.objects.create(customer=customer, name="Milan")


@pytest.fixture
def other_site(other_customer) -> Site:
    return Site.objects.create(customer=other_customer, name="Rome")


def make_user(username: str, *, customer: Customer | None = None, role: str = "member", **extra) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    if customer is not None:
        Membership.objects.create(user=user, customer=customer, role=role)
    return user


@pytest.fixture
def customer_admin(customer) -> User:
    return make_user("alice", customer=customer, role=Membership.Role.ADMIN)


@pytest.fixture
def customer_member(customer) -> User:
    return make_user("bob", customer=customer, role=Membership.Role.MEMBER)


@pytest.fixture
def other_admin(other_customer) -> User:
    return make_user("mallory", customer=other_customer, role=Membership.Role.ADMIN)


@pytest.fixture
def staff_without_permission(db) -> User:
    return make_user("intern", is_staff=True)


@pytest.fixture
def staff_with_permission(db) -> User:
    user = make_user("tech", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="manage_azure"))
    return user


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-root")


@pytest.fixture
def contact(customer, site) -> Contact:
    return Contact.objects.create(
        customer=customer, site=site, email="Ada.Lovelace@contoso.com", first_name="Ada", last_name="Lovelace"
    )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def default_language_after_each_test():
    """A request in Italian leaves Italian active in the thread (LocaleMiddleware does not
    undo it); the next test must not inherit it."""
    yield
    translation.deactivate()
