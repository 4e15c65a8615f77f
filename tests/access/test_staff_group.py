"""The MSP staff group (created by a migration) lets staff do every staff task
and nothing more: no superuser powers, no groups, no permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from portal.access.staff_group import STAFF_GROUP, STAFF_PERMISSIONS
from portal.customers.models import Contact, Customer, Membership, Site
from tests.access.conftest import client_for
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_group_with_exactly_the_staff_permissions():
    group = Group.objects.get(name=STAFF_GROUP)
    granted = {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }
    assert granted == set(STAFF_PERMISSIONS)
    assert not any((name.startswith("auth.") and "group" in name) or "permission" in name for name in granted)
    assert "auth.delete_user" not in granted


def test_the_demo_staff_user_is_in_the_group_and_holds_nothing_of_its_own():
    from portal.customers.demo import seed_demo

    seed_demo(password="pw-demo-123456")
    staff = User.objects.get(username="staff")
    assert staff.groups.filter(name=STAFF_GROUP).exists()
    assert not staff.user_permissions.exists()
    assert not staff.is_superuser


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:customers_customer_changelist",
        "admin:customers_customer_add",
        "admin:customers_site_changelist",
        "admin:customers_contact_changelist",
        "admin:customers_membership_changelist",
        "admin:customers_membership_add",
        "admin:auth_user_changelist",
        "admin:auth_user_add",
        "admin:access_invitation_changelist",
        "admin:access_invitation_add",
        "admin:activity_activity_changelist",
        "admin:integrations_health",
        "admin:integrations_azureconnection_changelist",
        "admin:integrations_syncrun_changelist",
        "admin:integrations_fieldchange_changelist",
    ],
)
def test_staff_reach_every_staff_page(msp_staff, url_name):
    assert client_for(msp_staff).get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:auth_group_changelist",
        "admin:auth_group_add",
        "admin:django_q_schedule_changelist",
        "admin:django_q_failure_changelist",
    ],
)
def test_staff_do_not_reach_superuser_only_pages(msp_staff, url_name):
    assert client_for(msp_staff).get(reverse(url_name)).status_code == 403


def test_the_user_autocomplete_of_add_membership_answers_staff(msp_staff, customer_admin):
    response = client_for(msp_staff).get(
        reverse("admin:autocomplete"),
        {"app_label": "customers", "model_name": "membership", "field_name": "user", "term": "ali"},
    )
    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["alice"]


def test_staff_create_customers_sites_contacts_and_member_memberships(msp_staff):
    client = client_for(msp_staff)
    response = client.post(
        reverse("admin:customers_customer_add"),
        {
            "name": "Tailspin",
            "plan": "enterprise",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 302, response.content
    customer = Customer.objects.get(name="Tailspin")
    client.post(reverse("admin:customers_site_add"), {"name": "Oslo", "customer": customer.pk})
    site = Site.objects.get(name="Oslo")
    client.post(
        reverse("admin:customers_contact_add"),
        {"customer": customer.pk, "site": site.pk, "email": "kari@tailspin.example"},
    )
    assert Contact.objects.filter(email="kari@tailspin.example").exists()
    user = make_user("kari")
    response = client.post(
        reverse("admin:customers_membership_add"),
        {"user": user.pk, "customer": customer.pk, "role": "member"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=user, customer=customer, role="member").exists()


def _empty_inlines() -> dict[str, str]:
    data = {}
    for prefix in ("sites", "memberships", "invitations"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


def test_staff_add_a_customer_user_but_cannot_make_anyone_staff_or_superuser(msp_staff):
    client = client_for(msp_staff)
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newbie",
            "password1": "a-Long-pass-phrase-9",
            "password2": "a-Long-pass-phrase-9",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content
    newbie = User.objects.get(username="newbie")
    change_url = reverse("admin:auth_user_change", args=[newbie.pk])
    form = client.get(change_url).content.decode()
    assert 'name="is_superuser"' not in form and 'name="is_staff"' not in form
    assert 'name="groups"' not in form and 'name="user_permissions"' not in form

    response = client.post(
        change_url,
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [Group.objects.get(name=STAFF_GROUP).pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content
    newbie.refresh_from_db()
    assert newbie.email == "newbie@example.com"
    assert not newbie.is_staff and not newbie.is_superuser and not newbie.groups.exists()


def test_staff_cannot_edit_themselves_or_other_staff_or_superusers(
    msp_staff, superuser, staff_with_permission
):
    client = client_for(msp_staff)
    for user in (msp_staff, superuser, staff_with_permission):
        # Viewing is fine (view_user); changing is not.
        response = client.post(
            reverse("admin:auth_user_change", args=[user.pk]),
            {"username": user.username, "email": "x@evil.example"},
        )
        assert response.status_code == 403
        response = client.post(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {"password1": "Taken-0ver-pass!", "password2": "Taken-0ver-pass!"},
        )
        assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.check_password("pw-root") and superuser.email == "root@example.com"


def test_staff_cannot_delete_users(msp_staff, customer_member):
    response = client_for(msp_staff).post(
        reverse("admin:auth_user_delete", args=[customer_member.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert User.objects.filter(pk=customer_member.pk).exists()
