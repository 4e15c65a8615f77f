"""`azure_connect`, `azure_disconnect` and `azure_status` as an operator uses them."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from integrations.models import AzureConnection, DirectoryUser, SiteMapping, SyncRun
from portal.customers.models import Contact
from tests.integrations.graph_helpers import LOGIN, TENANT, aad_error

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_azure_connect_verifies_a_token_and_saves_the_connection(customer, microsoft):
    output = run("azure_connect", "Contoso", "--tenant", TENANT.upper(), "--attribute", "department")

    connection = AzureConnection.objects.get()
    assert (connection.tenant_id, connection.tenant_name, connection.mapping_attribute) == (
        TENANT,
        "Contoso Ltd",
        "department",
    )
    assert "Connected Contoso to Contoso Ltd" in output
    assert len(microsoft.access_tokens) == 1


def test_azure_connect_refuses_a_tenant_without_consent(customer, microsoft):
    microsoft.rsps.replace(
        responses.POST,
        f"{LOGIN}/{TENANT}/oauth2/v2.0/token",
        status=400,
        json=aad_error(
            "unauthorized_client", 700016, "Application with identifier 'x' was not found in the directory"
        ),
    )
    with pytest.raises(CommandError, match="consent"):
        run("azure_connect", "Contoso", "--tenant", TENANT)
    assert not AzureConnection.objects.exists()


def test_azure_connect_refuses_an_unknown_tenant(customer, microsoft):
    microsoft.rsps.replace(
        responses.POST,
        f"{LOGIN}/{TENANT}/oauth2/v2.0/token",
        status=400,
        json=aad_error("invalid_request", 90002, "Tenant 'x' not found."),
    )
    with pytest.raises(CommandError):
        run("azure_connect", "Contoso", "--tenant", TENANT)
    with pytest.raises(CommandError, match="GUID or a domain"):
        run("azure_connect", "Contoso", "--tenant", "../../evil")
    assert not AzureConnection.objects.exists()


def test_azure_connect_refuses_a_token_without_the_role(customer, microsoft):
    microsoft.app_roles = [[]]
    with pytest.raises(CommandError, match=r"User\.Read\.All"):
        run("azure_connect", "Contoso", "--tenant", TENANT)


def test_azure_connect_refuses_a_tenant_bound_to_another_customer(customer, other_customer, microsoft):
    AzureConnection.objects.create(customer=other_customer, tenant_id=TENANT)
    with pytest.raises(CommandError, match="already connected to another customer"):
        run("azure_connect", "Contoso", "--tenant", TENANT)


def test_azure_connect_refuses_customers_whose_plan_lacks_the_sync(customer, microsoft):
    customer.plan = "starter"
    customer.save()
    with pytest.raises(CommandError, match="does not include"):
        run("azure_connect", "Contoso", "--tenant", TENANT)


def test_azure_disconnect_keeps_contacts_and_history_and_cancels_queued_runs(mapped, milan):
    Contact.objects.create(customer=mapped.customer, site=milan, email="a@contoso.com")
    DirectoryUser.objects.create(connection=mapped, object_id="x")
    queued = SyncRun.objects.create(customer=mapped.customer, connection=mapped, trigger="manual")
    done = SyncRun.objects.create(
        customer=mapped.customer, connection=mapped, trigger="manual", status="succeeded"
    )

    output = run("azure_disconnect", "Contoso")

    assert "Disconnected Contoso" in output and "Enterprise applications" in output
    assert not AzureConnection.objects.exists()
    assert not DirectoryUser.objects.exists() and not SiteMapping.objects.exists()
    assert Contact.objects.count() == 1
    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.status == "cancelled" and done.status == "succeeded"
    assert done.connection is None and done.customer == mapped.customer


def test_azure_disconnect_leaves_other_customers_connected(connection, other_customer):
    other = AzureConnection.objects.create(
        customer=other_customer, tenant_id="22222222-2222-2222-2222-222222222222"
    )
    run("azure_disconnect", "Contoso")
    assert list(AzureConnection.objects.all()) == [other]


def test_azure_disconnect_of_an_unconnected_customer_is_a_clean_error(customer):
    with pytest.raises(CommandError, match="has no Microsoft Entra ID connection"):
        run("azure_disconnect", "Contoso")


def test_azure_status_lists_every_connection_with_last_and_next_sync(mapped, directory, sync, other_customer):
    sync(mapped)
    AzureConnection.objects.create(customer=other_customer, tenant_id="22222222-2222-2222-2222-222222222222")

    text = run("azure_status")
    data = json.loads(run("azure_status", "--json"))

    assert "Contoso" in text and "succeeded" in text and "Fabrikam" in text and "never ran" in text
    contoso = next(item for item in data if item["customer"] == "Contoso")
    assert contoso["last_outcome"] == "succeeded"
    assert contoso["next_sync_at"] and contoso["health"] == "healthy"


def test_azure_status_says_when_nothing_is_connected(db):
    assert "No customer is connected" in run("azure_status")
