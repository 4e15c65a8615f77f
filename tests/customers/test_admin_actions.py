"""The integration's tools on the Customer and Site admins: Import from Azure AD,
Sync now and Disconnect, as changelist actions and as change-page buttons."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from integrations.services.connections import REMOVE_APP_INSTRUCTIONS
from portal.customers.models import Contact, Customer, Plan, Site
from tests.integrations.conftest import TENANT_ID

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:customers_customer_changelist"


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client: Client, action: str, *customers: Customer, **extra):
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [c.pk for c in customers], **extra}
    )


@pytest.fixture
def connection(customer) -> AzureConnection:
    return AzureConnection.objects.create(customer=customer, tenant_id=TENANT_ID, tenant_name="Contoso Ltd")


@pytest.fixture
def tech(staff_with_permission):
    """Integration staff who may also see customers and sites in the admin."""
    return grant(staff_with_permission, "view_customer", "change_customer", "view_site", "change_site")


@pytest.fixture
def intern(staff_without_permission):
    """Staff who may edit customers but lack the integration permission."""
    return grant(staff_without_permission, "view_customer", "change_customer", "view_site", "change_site")


# -- Sync now -------------------------------------------------------------------


def test_sync_now_queues_one_run_and_says_so_the_second_time(tech, connection):
    client = logged_in(tech)

    first = act(client, "azure_sync_now", connection.customer)
    second = act(client, "azure_sync_now", connection.customer)

    run = SyncRun.objects.get()  # transaction.on_commit never fires in a test: it stays queued
    assert (run.status, run.trigger, run.requested_by) == (
        SyncRun.Status.QUEUED,
        SyncRun.Trigger.MANUAL,
        tech,
    )
    run_url = reverse("admin:integrations_syncrun_change", args=[run.pk])
    assert first.status_code == second.status_code == 302
    assert messages_of(first) == [f'Sync started: Contoso (<a href="{run_url}">run #{run.pk}</a>).']
    already = messages_of(second)[-1]  # the first message is still in the cookie: nothing displayed it
    assert "already queued or running" in already
    assert run_url in already


def test_sync_now_reports_customers_that_are_not_connected(superuser, connection, other_customer):
    response = act(logged_in(superuser), "azure_sync_now", connection.customer, other_customer)

    assert SyncRun.objects.get().customer == connection.customer
    assert "Not connected to Microsoft Entra ID, nothing to sync: Fabrikam." in messages_of(response)


def test_sync_now_refuses_a_customer_whose_plan_lacks_the_feature(superuser, connection):
    Customer.objects.filter(pk=connection.customer_id).update(plan=Plan.STARTER)

    response = act(logged_in(superuser), "azure_sync_now", connection.customer)

    assert not SyncRun.objects.exists()
    assert "not included in the plan of: Contoso" in messages_of(response)[0]


def test_the_sync_now_button_answers_405_to_get_and_queues_on_post(superuser, connection):
    client = logged_in(superuser)
    url = reverse("admin:customers_customer_azure_sync", args=[connection.customer_id])

    get = client.get(url)
    post = client.post(url)

    assert get.status_code == 405
    assert post.status_code == 302
    assert post["Location"] == reverse("admin:customers_customer_change", args=[connection.customer_id])
    assert SyncRun.objects.get().status == SyncRun.Status.QUEUED


# -- Disconnect -----------------------------------------------------------------


@pytest.fixture
def synced(connection, site):
    """A connected customer with a mapping, contacts, a finished run with audit rows and a queued run."""
    SiteMapping.objects.create(connection=connection, value="Milan", site=site)
    contact = Contact.objects.create(customer=connection.customer, site=site, email="ada@contoso.com")
    done = SyncRun.objects.create(
        customer=connection.customer, connection=connection, trigger="initial", status="succeeded"
    )
    FieldChange.objects.create(
        run=done, customer=connection.customer, contact=contact, contact_email=contact.email, field="created"
    )
    queued = SyncRun.objects.create(customer=connection.customer, connection=connection, trigger="manual")
    return {"connection": connection, "done": done, "queued": queued}


def assert_disconnected(synced) -> None:
    customer = synced["connection"].customer
    assert not AzureConnection.objects.filter(customer=customer).exists()
    assert Contact.objects.filter(customer=customer).count() == 1
    assert FieldChange.objects.filter(customer=customer).count() == 1
    assert SyncRun.objects.filter(customer=customer).count() == 2
    synced["queued"].refresh_from_db()
    assert synced["queued"].status == SyncRun.Status.CANCELLED


def test_the_disconnect_action_asks_first_then_disconnects(superuser, synced, other_customer):
    client = logged_in(superuser)
    customer = synced["connection"].customer

    confirm = act(client, "azure_disconnect", customer, other_customer)

    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Contoso Ltd" in page
    assert TENANT_ID in page
    assert "every contact, the sync history and the audit log" in page
    assert REMOVE_APP_INSTRUCTIONS.replace("'", "&#x27;") in page
    assert "Not connected, nothing to do: Fabrikam." in page
    assert 'name="post" value="yes"' in page
    assert 'name="action" value="azure_disconnect"' in page
    assert "csrfmiddlewaretoken" in page
    assert AzureConnection.objects.filter(customer=customer).exists()

    done = act(client, "azure_disconnect", customer, other_customer, post="yes")

    assert done.status_code == 302
    assert_disconnected(synced)
    assert messages_of(done)[0].startswith("Disconnected from Microsoft Entra ID: Contoso.")
    assert REMOVE_APP_INSTRUCTIONS in messages_of(done)[0]


def test_disconnecting_one_customer_leaves_the_others_connected(superuser, synced, other_customer):
    other = AzureConnection.objects.create(customer=other_customer, tenant_id="other-tenant")

    act(logged_in(superuser), "azure_disconnect", synced["connection"].customer, post="yes")

    assert AzureConnection.objects.filter(pk=other.pk).exists()


def test_the_disconnect_button_confirms_on_get_and_on_unconfirmed_post(superuser, synced):
    client = logged_in(superuser)
    customer = synced["connection"].customer
    url = reverse("admin:customers_customer_azure_disconnect", args=[customer.pk])

    get = client.get(url)
    unconfirmed = client.post(url)

    assert get.status_code == unconfirmed.status_code == 200
    assert "Contoso Ltd" in get.content.decode()
    assert AzureConnection.objects.filter(customer=customer).exists()

    done = client.post(url, {"post": "yes"})

    assert done.status_code == 302
    assert done["Location"] == reverse("admin:customers_customer_change", args=[customer.pk])
    assert_disconnected(synced)


# -- Import from Azure AD -------------------------------------------------------


def test_import_refuses_more_than_one_customer(superuser, customer, other_customer):
    response = act(logged_in(superuser), "azure_import", customer, other_customer)

    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST)
    assert "select exactly one" in messages_of(response)[0]


def test_import_of_one_customer_leads_to_a_page_that_posts_to_the_consent_flow(tech, customer):
    client = logged_in(tech)

    response = act(client, "azure_import", customer)

    page_url = reverse("admin:customers_customer_azure_import", args=[customer.pk])
    assert response.status_code == 302
    assert response["Location"] == page_url
    page = client.get(page_url)
    assert page.status_code == 200
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page.content.decode(), re.S)
    assert form is not None
    assert form.group(1) == f"/integrations/azure/connect/{customer.pk}/"
    assert 'name="csrfmiddlewaretoken"' in form.group(2)


def test_import_explains_instead_when_the_plan_lacks_the_feature(superuser, db):
    starter = Customer.objects.create(name="Tailspin", plan=Plan.STARTER)
    client = logged_in(superuser)

    response = act(client, "azure_import", starter)
    page = client.get(reverse("admin:customers_customer_azure_import", args=[starter.pk]))

    assert response["Location"] == reverse(CHANGELIST)
    assert "not included in Tailspin's Starter plan" in messages_of(response)[0]
    assert "not included in Tailspin&#x27;s Starter plan" in page.content.decode()
    assert "/integrations/azure/connect/" not in page.content.decode()


# -- the change-page buttons ----------------------------------------------------


def test_a_customer_page_offers_import_to_integration_staff(tech, customer):
    content = (
        logged_in(tech).get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    )

    assert f'action="/integrations/azure/connect/{customer.pk}/"' in content
    assert "Import from Azure AD" in content
    assert reverse("integrations:manage", args=[customer.pk]) in content


def test_a_connected_customer_page_offers_manage_sync_and_disconnect(superuser, connection):
    customer = connection.customer

    content = (
        logged_in(superuser)
        .get(reverse("admin:customers_customer_change", args=[customer.pk]))
        .content.decode()
    )

    assert reverse("integrations:manage", args=[customer.pk]) in content
    assert f'action="{reverse("admin:customers_customer_azure_sync", args=[customer.pk])}"' in content
    assert reverse("admin:customers_customer_azure_disconnect", args=[customer.pk]) in content
    assert "/integrations/azure/connect/" not in content


def test_a_customer_page_explains_the_plan_instead_of_the_button(superuser, db):
    starter = Customer.objects.create(name="Tailspin", plan=Plan.STARTER)

    content = (
        logged_in(superuser)
        .get(reverse("admin:customers_customer_change", args=[starter.pk]))
        .content.decode()
    )

    assert "Microsoft Entra ID sync is not included in the Starter plan" in content
    assert "/integrations/azure/connect/" not in content


def test_a_site_page_offers_import_from_azure_ad(tech, site):
    content = logged_in(tech).get(reverse("admin:customers_site_change", args=[site.pk])).content.decode()

    assert f'action="/integrations/azure/connect/{site.customer_id}/"' in content


def test_a_connected_site_page_links_the_integration(superuser, connection, site):
    content = (
        logged_in(superuser).get(reverse("admin:customers_site_change", args=[site.pk])).content.decode()
    )

    assert reverse("integrations:manage", args=[site.customer_id]) in content
    assert "/integrations/azure/connect/" not in content


# -- who may -----------------------------------------------------------------------


def test_staff_without_the_permission_see_no_integration_tools(intern, connection, site):
    client = logged_in(intern)

    changelist = client.get(reverse(CHANGELIST))
    customer_page = client.get(reverse("admin:customers_customer_change", args=[connection.customer_id]))
    site_page = client.get(reverse("admin:customers_site_change", args=[site.pk]))

    assert changelist.status_code == customer_page.status_code == site_page.status_code == 200
    assert "azure_" not in changelist.content.decode()
    for page in (customer_page, site_page):
        assert "/integrations/" not in page.content.decode()
        assert "/azure/" not in page.content.decode()


@pytest.mark.parametrize(
    ("view", "method"), [("import", "get"), ("sync", "post"), ("disconnect", "get"), ("disconnect", "post")]
)
def test_staff_without_the_permission_get_403_from_the_custom_views(intern, connection, view, method):
    url = reverse(f"admin:customers_customer_azure_{view}", args=[connection.customer_id])

    response = getattr(logged_in(intern), method)(url, {"post": "yes"} if method == "post" else {})

    assert response.status_code == 403
    assert AzureConnection.objects.filter(pk=connection.pk).exists()
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("action", ["azure_import", "azure_sync_now", "azure_disconnect"])
def test_staff_without_the_permission_cannot_run_the_actions(intern, connection, action):
    client = logged_in(intern)

    response = act(client, action, connection.customer, post="yes")
    indexed = act(client, action, connection.customer, post="yes", index="0")

    # The actions are not offered, so Django's changelist ignores them.
    assert response.status_code == indexed.status_code == 200
    assert "azure_" not in response.content.decode()
    assert AzureConnection.objects.filter(pk=connection.pk).exists()
    assert not SyncRun.objects.exists()


def test_the_custom_views_send_anonymous_users_to_the_admin_login(client, connection):
    response = client.get(reverse("admin:customers_customer_azure_import", args=[connection.customer_id]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_unknown_customer_is_a_404(superuser, db):
    response = logged_in(superuser).get(reverse("admin:customers_customer_azure_import", args=[999999]))

    assert response.status_code == 404


# -- CSRF ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("admin:customers_customer_azure_sync", {}),
        ("admin:customers_customer_azure_disconnect", {"post": "yes"}),
        (CHANGELIST, {"action": "azure_sync_now", "_selected_action": ["{pk}"]}),
        (CHANGELIST, {"action": "azure_disconnect", "_selected_action": ["{pk}"], "post": "yes"}),
    ],
)
def test_state_changes_without_a_csrf_token_are_refused(superuser, connection, url_name, data):
    customer_id = connection.customer_id
    client = logged_in(superuser, enforce_csrf_checks=True)
    url = reverse(url_name) if url_name == CHANGELIST else reverse(url_name, args=[customer_id])
    data = {key: [str(customer_id)] if value == ["{pk}"] else value for key, value in data.items()}

    response = client.post(url, data)

    assert response.status_code == 403
    assert AzureConnection.objects.filter(pk=connection.pk).exists()
    assert not SyncRun.objects.exists()


def test_the_existing_customer_admin_still_works(superuser, customer, site):
    client = logged_in(superuser)

    changelist = client.get(reverse(CHANGELIST))
    delete = client.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [customer.pk]}
    )

    assert changelist.status_code == 200
    assert delete.status_code == 200  # Django's own confirmation page
    assert Site.objects.filter(pk=site.pk).exists()


@pytest.mark.parametrize("action", ["azure_import", "azure_sync_now", "azure_disconnect"])
def test_each_action_checks_the_permission_itself(rf, intern, connection, action):
    """The admin only hides the actions; each one refuses on its own too."""
    request = rf.post(reverse(CHANGELIST), {"post": "yes"})
    request.user = intern
    model_admin = admin.site._registry[Customer]

    with pytest.raises(PermissionDenied):
        getattr(model_admin, action)(request, Customer.objects.all())
    assert AzureConnection.objects.filter(pk=connection.pk).exists()
    assert not SyncRun.objects.exists()


def test_a_connected_customer_cannot_be_deleted_around_disconnect(superuser, connection):
    """Deleting the customer would drop the connection without the Disconnect service."""
    url = reverse("admin:customers_customer_delete", args=[connection.customer_id])

    response = logged_in(superuser).post(url, {"post": "yes"})

    assert response.status_code == 403
    assert AzureConnection.objects.filter(pk=connection.pk).exists()
