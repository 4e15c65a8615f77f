"""Every integration action lands in the activity log with its actor: connect
(who, which tenant), disconnect, mapping changes (old → new), Sync now."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from integrations.models import AzureConnection
from portal.activity.models import Activity
from tests.integrations.graph_helpers import TENANT
from tests.integrations.test_consent_flow import consent_callback, logged_in, sign_in
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


def only(kind: str) -> Activity:
    return Activity.objects.get(kind=kind)


@pytest.mark.usefixtures("entra")
def test_connect_records_who_and_which_tenant(customer, customer_admin, microsoft):
    client = logged_in(customer_admin)
    query = sign_in(client, customer, microsoft)
    consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])

    entry = only("connected")
    assert (entry.actor, entry.actor_name, entry.customer) == (customer_admin, "alice", customer)
    assert entry.details["tenant_id"] == TENANT and entry.target == "Contoso Ltd"


def test_portal_disconnect_records_who_and_the_tenant_that_went(connection, customer_admin):
    logged_in(customer_admin).post(reverse("integrations:disconnect", args=[connection.customer_id]))
    assert not AzureConnection.objects.exists()
    entry = only("disconnected")
    assert (entry.actor, entry.old_value) == (customer_admin, connection.tenant_id)


def test_admin_disconnect_records_who_and_writes_admin_history(connection, staff_with_permission):
    logged_in(staff_with_permission).post(
        reverse("admin:customers_customer_azure_disconnect", args=[connection.customer_id]), {"post": "yes"}
    )
    assert only("disconnected").actor == staff_with_permission
    assert LogEntry.objects.filter(user=staff_with_permission, object_id=str(connection.customer_id)).exists()


def test_sync_now_records_who_once_per_started_run(mapped, customer_admin):
    client = logged_in(customer_admin)
    client.post(reverse("integrations:sync_now", args=[mapped.customer_id]))
    client.post(reverse("integrations:sync_now", args=[mapped.customer_id]))  # already queued: not a new run
    entry = only("sync_requested")
    assert entry.actor == customer_admin and entry.details["trigger"] == "manual"


def test_admin_sync_now_records_who_and_writes_admin_history(mapped, staff_with_permission):
    logged_in(staff_with_permission).post(
        reverse("admin:customers_customer_azure_sync", args=[mapped.customer_id])
    )
    assert only("sync_requested").actor == staff_with_permission
    assert LogEntry.objects.filter(user=staff_with_permission, object_id=str(mapped.customer_id)).exists()


def test_mapping_changes_record_old_and_new(mapped, directory, sync, customer_admin, milan, rome):
    add_person(directory, mail="a@contoso.com", officeLocation="Milan HQ")
    add_person(directory, mail="b@contoso.com", officeLocation="Rome")
    sync(mapped, dry_run=True)
    form = {
        "attribute": "officeLocation",
        "rows": "2",
        "value-0": "Milan HQ",
        "target-0": str(rome.pk),
        "value-1": "Rome",
        "target-1": "",
        "action": "save",
    }
    logged_in(customer_admin).post(reverse("integrations:mapping", args=[mapped.customer_id]), form)

    entry = only("mapping_changed")
    assert entry.actor == customer_admin
    assert entry.old_value == "officeLocation: Milan HQ → Milan; Rome → Rome"
    assert entry.new_value == "officeLocation: Milan HQ → Rome"


def test_saving_an_unchanged_mapping_records_nothing(mapped, directory, sync, customer_admin, milan, rome):
    add_person(directory, mail="a@contoso.com", officeLocation="Milan HQ")
    sync(mapped, dry_run=True)
    form = {
        "attribute": "officeLocation",
        "rows": "1",
        "value-0": "Milan HQ",
        "target-0": str(milan.pk),
        "action": "save",
    }
    logged_in(customer_admin).post(reverse("integrations:mapping", args=[mapped.customer_id]), form)
    assert not Activity.objects.filter(kind="mapping_changed").exists()
