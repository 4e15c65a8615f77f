"""The activity log: append-only; a customer's administrators see their own
customer's, staff see all in the admin (read-only); filters and CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from portal.access.staff_group import STAFF_GROUP
from portal.activity.models import Activity, ImmutableError
from portal.activity.services import Kind, record
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def entries(customer, other_customer, customer_admin, other_admin):
    return [
        record(Kind.SYNC_REQUESTED, actor=customer_admin, customer=customer, target="run #1"),
        record(
            Kind.POLICY_CHANGED,
            actor=customer_admin,
            customer=customer,
            target="deletions",
            old="keep",
            new="=HYPERLINK(1)",
        ),
        record(Kind.DISCONNECTED, actor=other_admin, customer=other_customer, target="Fabrikam tenant"),
    ]


def test_records_cannot_be_changed_or_deleted(entries):
    entry = entries[0]
    entry.target = "forged"
    with pytest.raises(ImmutableError):
        entry.save()
    with pytest.raises(ImmutableError):
        entry.delete()
    with pytest.raises(ImmutableError):
        Activity.objects.filter(pk=entry.pk).update(target="forged")
    with pytest.raises(ImmutableError):
        Activity.objects.all().delete()
    assert Activity.objects.get(pk=entry.pk).target == "run #1"


def test_the_record_outlives_its_actor(entries, customer_admin):
    customer_admin.delete()
    entry = Activity.objects.get(pk=entries[0].pk)
    assert entry.actor is None and entry.actor_name == "alice"


def test_every_policy_undo_and_approval_kind_can_be_recorded_by_other_features(customer, customer_admin):
    for kind in (Kind.POLICY_CHANGED, Kind.RUN_UNDONE, Kind.CHANGE_APPROVED, Kind.CHANGE_REJECTED):
        entry = record(kind, actor=customer_admin, customer=customer, details={"run_id": 7})
        assert entry.actor == customer_admin and entry.details == {"run_id": 7}


def test_a_customer_admin_sees_only_their_customers_log(entries, customer, customer_admin):
    page = client_for(customer_admin).get(reverse("activity:log", args=[customer.pk])).content.decode()
    assert "run #1" in page and "deletions" in page
    assert "Fabrikam tenant" not in page


def test_members_and_strangers_do_not_see_the_log(entries, customer, customer_member, other_admin):
    url = reverse("activity:log", args=[customer.pk])
    assert client_for(customer_member).get(url).status_code == 403
    assert client_for(other_admin).get(url).status_code == 404
    assert client_for(other_admin).get(reverse("activity:csv", args=[customer.pk])).status_code == 404
    assert Client().get(url).status_code == 302


def test_filters_and_hostile_query_strings(entries, customer, customer_admin):
    client = client_for(customer_admin)
    url = reverse("activity:log", args=[customer.pk])
    page = client.get(url, {"kind": "policy_changed"}).content.decode()
    assert "deletions" in page and "run #1" not in page
    for hostile in ({"kind": "'; drop table"}, {"since": "yesterday"}, {"page": "-1"}, {"q": "x" * 5000}):
        assert client.get(url, hostile).status_code == 200


def test_the_csv_export_is_filtered_and_safe_for_spreadsheets(entries, customer, customer_admin):
    response = client_for(customer_admin).get(reverse("activity:csv", args=[customer.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0] == ["at", "who", "customer", "kind", "on", "before", "after"]
    assert len(rows) == 3
    policy = next(row for row in rows if row[3] == "policy_changed")
    assert policy[6] == "'=HYPERLINK(1)"


def test_staff_see_every_customers_log_in_the_admin_read_only(entries):
    staff = make_user("sam", is_staff=True)
    staff.groups.add(Group.objects.get(name=STAFF_GROUP))
    client = client_for(staff)
    page = client.get(reverse("admin:activity_activity_changelist")).content.decode()
    assert "run #1" in page and "Fabrikam tenant" in page
    assert client.get(reverse("admin:activity_activity_add")).status_code == 403
    entry = entries[0]
    assert (
        client.post(reverse("admin:activity_activity_delete", args=[entry.pk]), {"post": "yes"}).status_code
        == 403
    )
    export = client.get(reverse("admin:activity_activity_csv"), {"kind__exact": "disconnected"})
    body = b"".join(export.streaming_content).decode()
    assert "Fabrikam tenant" in body and "run #1" not in body


def test_staff_without_the_view_permission_cannot_export(entries):
    staff = make_user("intern", is_staff=True)
    assert client_for(staff).get(reverse("admin:activity_activity_csv")).status_code == 403


def test_the_admin_export_sends_unknown_filters_back_to_the_changelist(entries):
    staff = make_user("sam", is_staff=True)
    staff.groups.add(Group.objects.get(name=STAFF_GROUP))

    response = client_for(staff).get(
        reverse("admin:activity_activity_csv"), {"contact": "x", "at__gte": "no"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:activity_activity_changelist") + "?e=1"
