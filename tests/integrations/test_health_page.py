"""Health at a glance: every connection sorted by urgency with its fix, and the
Customers changelist's integration columns and filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.health_selectors import CATEGORIES, connection_health
from integrations.models import AzureConnection, Health, SiteMapping, SyncRun
from portal.customers.models import Customer, Plan, Site

pytestmark = pytest.mark.django_db


def connect(name: str, tenant: int, **fields) -> AzureConnection:
    customer = Customer.objects.create(name=name, plan=Plan.ENTERPRISE)
    connection = AzureConnection.objects.create(
        customer=customer,
        tenant_id=f"00000000-0000-0000-0000-{tenant:012d}",
        tenant_name=f"{name} tenant",
        **fields,
    )
    site = Site.objects.create(customer=customer, name="HQ")
    SiteMapping.objects.create(connection=connection, value="HQ", site=site)
    return connection


@pytest.fixture
def fleet():
    now = timezone.now()
    recent = {"last_sync_at": now - timedelta(hours=1)}
    return {
        "healthy": connect("Alpha", 1, **recent),
        "stale": connect("Bravo", 2, last_sync_at=now - timedelta(days=3)),
        "backing_off": connect("Charlie", 3, health=Health.BACKING_OFF, consecutive_failures=2, **recent),
        "quarantined": connect("Delta", 4, health=Health.QUARANTINED, consecutive_failures=7, **recent),
        "needs_attention": connect(
            "Echo",
            5,
            health=Health.NEEDS_ATTENTION,
            health_reason="Admin consent was revoked or is missing.",
            **recent,
        ),
    }


def test_connections_are_sorted_by_urgency(fleet):
    rows = connection_health()
    assert [row.category for row in rows] == [
        "needs_attention",
        "quarantined",
        "backing_off",
        "stale",
        "healthy",
    ]
    assert [row.customer.name for row in rows] == ["Echo", "Delta", "Charlie", "Bravo", "Alpha"]


def test_each_row_says_what_fixes_it(fleet):
    SyncRun.objects.create(
        customer=fleet["needs_attention"].customer,
        connection=fleet["needs_attention"],
        trigger="scheduled",
        status="failed",
        error_kind="consent_required",
        error="consent revoked",
    )
    fixes = {row.category: row.fix for row in connection_health()}
    assert "Import from Azure AD" in fixes["needs_attention"]
    assert "Sync now" in fixes["quarantined"]
    assert "qcluster" in fixes["stale"]
    assert fixes["healthy"] == "Nothing to do."


def test_a_never_synced_unmapped_connection_is_stale_and_told_to_finish_the_mapping():
    customer = Customer.objects.create(name="Foxtrot", plan=Plan.ENTERPRISE)
    AzureConnection.objects.create(
        customer=customer, tenant_id="f" * 8, connected_at=timezone.now() - timedelta(days=2)
    )
    (row,) = connection_health()
    assert row.category == "stale" and "mapping" in row.fix


def test_the_category_table_keeps_held_runs_between_stale_and_healthy():
    keys = [category.key for category in CATEGORIES]
    assert keys == ["needs_attention", "quarantined", "backing_off", "stale", "held", "healthy"]


def test_the_health_page_lists_counts_and_the_revoked_connection_first(fleet, staff_with_permission):
    client = Client()
    client.force_login(staff_with_permission)
    page = client.get(reverse("admin:integrations_health")).content.decode()
    assert page.index("Echo") < page.index("Delta") < page.index("Alpha")
    assert "Admin consent was revoked" in page
    assert page.count('data-category="needs_attention"') == 1
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:integrations_health") in index


def test_the_health_page_is_for_integration_staff_only(fleet, staff_without_permission, customer_admin):
    url = reverse("admin:integrations_health")
    staff = Client()
    staff.force_login(staff_without_permission)
    assert staff.get(url).status_code == 403
    assert reverse("admin:integrations_health") not in staff.get(reverse("admin:index")).content.decode()
    portal_user = Client()
    portal_user.force_login(customer_admin)
    assert portal_user.get(url).status_code == 302  # to the admin login
    assert Client().get(url).status_code == 302


def test_the_customers_changelist_shows_integration_columns_and_filters_by_health(fleet, superuser):
    client = Client()
    client.force_login(superuser)
    url = reverse("admin:customers_customer_changelist")
    page = client.get(url).content.decode()
    assert "Echo tenant" in page and "Needs attention" in page and "Stale" in page
    filtered = client.get(url, {"integration": "needs_attention"}).content.decode()
    assert "Echo" in filtered and "Alpha" not in filtered
    stale = client.get(url, {"integration": "stale"}).content.decode()
    assert "Bravo" in stale and "Alpha" not in stale
    Customer.objects.create(name="Golf", plan=Plan.STARTER)
    unconnected = client.get(url, {"integration": "none"}).content.decode()
    assert "Golf" in unconnected and "Alpha" not in unconnected
    assert client.get(url, {"integration": "<script>"}).status_code == 200
