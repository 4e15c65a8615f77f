"""Reads that scope customer data to what a portal user may see."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from portal.customers.models import Contact, Customer, Membership, Site


def customers_for_user(*, user: User) -> QuerySet[Customer]:
    """The customers a user is a member of (staff use the admin instead)."""
    return Customer.objects.filter(memberships__user=user).distinct()


def customer_for_user(*, user: User, customer_id: int) -> Customer:
    """One customer the user belongs to, or 404 (never 403: no existence leak)."""
    return get_object_or_404(customers_for_user(user=user), pk=customer_id)


def site_for_user(*, user: User, customer_id: int, site_id: int) -> Site:
    """One site of a customer the user belongs to, or 404."""
    customer = customer_for_user(user=user, customer_id=customer_id)
    return get_object_or_404(Site.objects.select_related("customer"), pk=site_id, customer=customer)


def contact_for_user(*, user: User, customer_id: int, contact_id: int) -> Contact:
    """One contact of a customer the user belongs to, or 404."""
    customer = customer_for_user(user=user, customer_id=customer_id)
    return get_object_or_404(
        Contact.objects.select_related("customer", "site"), pk=contact_id, customer=customer
    )


def sites_with_contact_counts(*, customer: Customer) -> QuerySet[Site]:
    return customer.sites.annotate(contact_count=Count("contacts")).order_by("name")


def membership_role(*, user: User, customer: Customer) -> str | None:
    """The user's role at the customer, or None when not a member."""
    return Membership.objects.filter(user=user, customer=customer).values_list("role", flat=True).first()


def is_customer_admin(*, user: User, customer: Customer) -> bool:
    return membership_role(user=user, customer=customer) == Membership.Role.ADMIN
