"""Membership escalation closed (issue 12): granting the customer-admin role
needs the integration permission or superuser, nobody changes their own
membership, and every change is in the admin history and the activity log."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from portal.activity.models import Activity
from portal.customers.models import Membership
from tests.access.conftest import client_for
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def add_membership(client, user, customer, role):
    return client.post(
        reverse("admin:customers_membership_add"), {"user": user.pk, "customer": customer.pk, "role": role}
    )


def inline_post(customer, rows, initial=0):
    """The Customer change form with its membership inline rows."""
    data = {"name": customer.name, "plan": customer.plan}
    for prefix, total, init in (("sites", 0, 0), ("invitations", 0, 0), ("memberships", len(rows), initial)):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(total),
                f"{prefix}-INITIAL_FORMS": str(init),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    for index, row in enumerate(rows):
        data.update({f"memberships-{index}-{key}": value for key, value in row.items()})
    return data


def test_staff_without_manage_azure_cannot_grant_themselves_customer_admin(staff_without_azure, customer):
    client = client_for(staff_without_azure)
    response = add_membership(client, staff_without_azure, customer, "admin")
    assert response.status_code == 200  # the form again, with the error
    assert not Membership.objects.filter(user=staff_without_azure).exists()


def test_staff_without_manage_azure_cannot_grant_anyone_customer_admin(staff_without_azure, customer):
    someone = make_user("someone")
    client = client_for(staff_without_azure)
    response = add_membership(client, someone, customer, "admin")
    assert b"integration permission" in response.content
    assert not Membership.objects.filter(user=someone).exists()


def test_staff_without_manage_azure_cannot_grant_it_through_the_customer_page_inline(
    staff_without_azure, customer
):
    someone = make_user("someone")
    response = client_for(staff_without_azure).post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        inline_post(customer, [{"user": someone.pk, "role": "admin", "customer": customer.pk}]),
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(user=someone).exists()


def test_staff_without_manage_azure_cannot_promote_a_member(staff_without_azure, customer, customer_member):
    membership = Membership.objects.get(user=customer_member)
    response = client_for(staff_without_azure).post(
        reverse("admin:customers_membership_change", args=[membership.pk]),
        {"user": customer_member.pk, "customer": customer.pk, "role": "admin"},
    )
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.role == "member"


def test_staff_without_manage_azure_cannot_remove_an_administrator(staff_without_azure, customer_admin):
    membership = Membership.objects.get(user=customer_admin)
    response = client_for(staff_without_azure).post(
        reverse("admin:customers_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_staff_without_manage_azure_may_still_add_plain_members(staff_without_azure, customer):
    someone = make_user("someone")
    response = add_membership(client_for(staff_without_azure), someone, customer, "member")
    assert response.status_code == 302
    assert Membership.objects.get(user=someone).role == "member"


def test_staff_with_manage_azure_grant_admin_to_others_but_not_to_themselves(msp_staff, customer):
    client = client_for(msp_staff)
    someone = make_user("someone")
    assert add_membership(client, someone, customer, "admin").status_code == 302
    assert Membership.objects.get(user=someone).role == "admin"

    response = add_membership(client, msp_staff, customer, "member")
    assert b"your own membership" in response.content
    assert not Membership.objects.filter(user=msp_staff).exists()


def test_nobody_changes_their_own_membership_not_even_a_superuser(superuser, customer):
    Membership.objects.create(user=superuser, customer=customer, role="member")
    membership = Membership.objects.get(user=superuser)
    response = client_for(superuser).post(
        reverse("admin:customers_membership_change", args=[membership.pk]),
        {"user": superuser.pk, "customer": customer.pk, "role": "admin"},
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == "member"


def test_every_membership_change_is_in_the_admin_history_and_the_activity_log(msp_staff, customer):
    client = client_for(msp_staff)
    someone = make_user("someone")
    add_membership(client, someone, customer, "member")
    membership = Membership.objects.get(user=someone)
    client.post(
        reverse("admin:customers_membership_change", args=[membership.pk]),
        {"user": someone.pk, "customer": customer.pk, "role": "admin"},
    )
    client.post(reverse("admin:customers_membership_delete", args=[membership.pk]), {"post": "yes"})

    history = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Membership), object_id=str(membership.pk)
    ).order_by("pk")
    assert [entry.action_flag for entry in history] == [ADDITION, CHANGE, DELETION]
    assert all(entry.user_id == msp_staff.pk for entry in history)
    kinds = list(
        Activity.objects.filter(customer=customer)
        .order_by("pk")
        .values_list("kind", "actor_id", "old_value", "new_value")
    )
    assert kinds == [
        ("membership_added", msp_staff.pk, "", "member"),
        ("membership_changed", msp_staff.pk, "member", "admin"),
        ("membership_removed", msp_staff.pk, "admin", ""),
    ]


def test_inline_membership_changes_reach_the_membership_history_and_the_activity_log(msp_staff, customer):
    someone = make_user("someone")
    response = client_for(msp_staff).post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        inline_post(customer, [{"user": someone.pk, "role": "admin", "customer": customer.pk}]),
    )
    assert response.status_code == 302, response.content
    membership = Membership.objects.get(user=someone)
    assert LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Membership),
        object_id=str(membership.pk),
        action_flag=ADDITION,
    ).exists()
    assert Activity.objects.filter(kind="membership_added", actor=msp_staff, target="someone").exists()


def test_a_new_customer_with_an_administrator_inline_needs_the_permission(staff_without_azure, msp_staff):
    someone = make_user("someone")
    data = inline_post(
        type("New", (), {"name": "Tailspin", "plan": "enterprise"})(), [{"user": someone.pk, "role": "admin"}]
    )
    response = client_for(staff_without_azure).post(reverse("admin:customers_customer_add"), data)
    assert response.status_code == 200
    assert not Membership.objects.filter(user=someone).exists()
    response = client_for(msp_staff).post(reverse("admin:customers_customer_add"), data)
    assert response.status_code == 302, response.content
    assert Membership.objects.get(user=someone).role == "admin"
