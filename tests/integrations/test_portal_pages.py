"""The integration's portal pages: management, mapping editor with preview, run
progress, audit log and its CSV export, as each kind of user sees them."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from integrations.services.mapping import NEW_SITE
from portal.customers.models import Contact, Site
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, customer, *args) -> str:
    return reverse(f"integrations:{name}", args=[customer.pk, *args])


def test_management_page_shows_tenant_dates_health_mapping_and_runs(mapped, directory, sync, customer_admin):
    add_person(directory)
    run = sync(mapped)

    page = client_for(customer_admin).get(url("manage", mapped.customer)).content.decode()

    for text in (
        "Contoso Ltd",
        mapped.tenant_id,
        "Connected",
        "Next automatic sync",
        "Healthy",
        "Milan HQ",
        "Sync now",
        "Disconnect",
    ):
        assert text in page, text
    assert url("run", mapped.customer, run.pk) in page
    assert "from now" in page  # the next sync with an "in N hours" hint


def test_members_see_the_status_but_no_buttons(mapped, customer_member):
    page = client_for(customer_member).get(url("manage", mapped.customer)).content.decode()

    assert "Contoso Ltd" in page
    assert "Sync now" not in page and "Disconnect" not in page


def test_needs_attention_offers_to_reconnect(mapped, customer_admin):
    AzureConnection.objects.filter(pk=mapped.pk).update(
        health="needs_attention", health_reason="Consent was revoked."
    )

    page = client_for(customer_admin).get(url("manage", mapped.customer)).content.decode()

    assert "Consent was revoked." in page and "Reconnect to Microsoft Entra ID" in page
    assert "Paused until the connection is fixed" in page


def test_sync_now_queues_a_run_and_a_second_click_says_it_is_already_queued(mapped, customer_admin):
    client = client_for(customer_admin)
    first = client.post(url("sync_now", mapped.customer), follow=True)
    second = client.post(url("sync_now", mapped.customer), follow=True)

    assert SyncRun.objects.filter(status="queued").count() == 1
    assert "Sync started" in first.content.decode()
    assert "already queued" in second.content.decode()


def test_disconnect_asks_for_confirmation_then_keeps_contacts(mapped, customer_admin, milan):
    Contact.objects.create(customer=mapped.customer, site=milan, email="a@contoso.com")
    client = client_for(customer_admin)

    confirm = client.get(url("disconnect", mapped.customer)).content.decode()
    assert "What stays" in confirm and "Enterprise applications" in confirm
    assert AzureConnection.objects.exists()

    done = client.post(url("disconnect", mapped.customer), follow=True).content.decode()
    assert "is disconnected" in done
    assert not AzureConnection.objects.exists()
    assert Contact.objects.count() == 1


def test_mapping_editor_lists_values_with_counts_and_previews_without_saving(
    connection, directory, sync, customer_admin, milan
):
    add_person(directory, mail="a@contoso.com", officeLocation="Milan HQ")
    add_person(directory, mail="b@contoso.com", officeLocation="milan hq ")
    add_person(directory, mail="c@contoso.com", officeLocation="Paris")
    sync(connection, dry_run=True)  # the directory read after connecting
    client = client_for(customer_admin)

    page = client.get(url("mapping", connection.customer)).content.decode()
    assert "Milan HQ" in page and "Paris" in page

    form = {
        "attribute": "officeLocation",
        "rows": "2",
        "value-0": "Milan HQ",
        "target-0": str(milan.pk),
        "value-1": "Paris",
        "target-1": NEW_SITE,
    }
    preview = client.post(url("mapping", connection.customer), {**form, "action": "preview"}).content.decode()

    assert "create 3</strong>" in preview.replace("\n", " ") or "create 3" in preview
    assert not SiteMapping.objects.exists() and not Site.objects.filter(name="Paris").exists()
    assert not Contact.objects.exists()


def test_saving_the_mapping_creates_sites_and_starts_the_sync(
    connection, directory, sync, customer_admin, milan
):
    add_person(directory, mail="a@contoso.com", officeLocation="Paris")
    sync(connection, dry_run=True)
    form = {
        "attribute": "officeLocation",
        "rows": "1",
        "value-0": "Paris",
        "target-0": NEW_SITE,
        "action": "save",
    }

    response = client_for(customer_admin).post(url("mapping", connection.customer), form)

    paris = Site.objects.get(customer=connection.customer, name="Paris")
    assert SiteMapping.objects.get().site == paris
    run = SyncRun.objects.filter(dry_run=False).get()
    assert response["Location"] == url("run", connection.customer, run.pk)


def test_a_mapping_form_cannot_point_at_another_customers_site(
    connection, directory, sync, customer_admin, other_site
):
    add_person(directory, mail="a@contoso.com", officeLocation="Paris")
    sync(connection, dry_run=True)
    form = {"rows": "1", "value-0": "Paris", "target-0": str(other_site.pk), "action": "save"}

    client_for(customer_admin).post(url("mapping", connection.customer), form)

    assert not SiteMapping.objects.exists()


def test_run_page_and_progress_json(mapped, directory, sync, customer_member):
    add_person(directory)
    run = sync(mapped)
    client = client_for(customer_member)

    page = client.get(url("run", mapped.customer, run.pk)).content.decode()
    data = client.get(url("run_progress", mapped.customer, run.pk)).json()

    assert "Succeeded" in page and "data-progress-url" in page
    assert data["status"] == "succeeded" and data["percent"] == 100 and not data["active"]
    assert data["counts"]["created"] == 1


def make_changes(mapped, directory, sync):
    user = add_person(directory, jobTitle="Analyst")
    sync(mapped)
    directory.update(user, jobTitle='=HYPERLINK("http://evil")', mobilePhone="+39 2")
    return sync(mapped)


def test_audit_log_filters_by_field_run_contact_and_search(mapped, directory, sync, customer_member):
    second = make_changes(mapped, directory, sync)
    client = client_for(customer_member)

    everything = client.get(url("audit", mapped.customer)).content.decode()
    titles = client.get(url("audit", mapped.customer), {"field": "job_title"}).content.decode()
    by_run = client.get(url("audit", mapped.customer), {"run": second.pk}).content.decode()
    searched = client.get(url("audit", mapped.customer), {"q": "+39 2"}).content.decode()
    nobody = client.get(url("audit", mapped.customer), {"contact": "nobody@x.com"}).content.decode()

    assert "3 changes" in everything
    assert "1 change" in titles and "HYPERLINK" in titles
    assert "2 changes" in by_run
    assert "1 change" in searched
    assert "No changes match" in nobody


def test_audit_csv_is_streamed_and_neutralises_formulas(mapped, directory, sync, customer_member):
    make_changes(mapped, directory, sync)

    response = client_for(customer_member).get(url("audit_csv", mapped.customer))

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["changed_at", "run", "contact_email", "field", "old_value", "new_value", "field_label"]
    assert len(rows) == 4
    title = next(row for row in rows if row[3] == "job_title")
    assert title[5] == '\'=HYPERLINK("http://evil")'
    phone = next(row for row in rows if row[3] == "mobile_phone")
    assert phone[5] == "'+39 2"


def test_the_audit_log_has_no_way_to_change_it(mapped, customer_admin):
    client = client_for(customer_admin)
    assert client.post(url("audit", mapped.customer)).status_code == 405
    assert client.post(url("audit_csv", mapped.customer)).status_code == 405


PAGES = [
    ("manage", "get", False),
    ("mapping", "get", True),
    ("sync_now", "post", True),
    ("disconnect", "get", True),
    ("disconnect", "post", True),
    ("audit", "get", False),
    ("audit_csv", "get", False),
]


@pytest.mark.parametrize(("name", "method", "manage_only"), PAGES)
def test_every_page_is_scoped_to_its_customer_and_role(
    name,
    method,
    manage_only,
    mapped,
    customer_admin,
    customer_member,
    other_admin,
    staff_without_permission,
    staff_with_permission,
):
    target = url(name, mapped.customer)

    def status(user):
        client = client_for(user) if user else Client()
        return getattr(client, method)(target).status_code

    assert status(other_admin) == 404
    assert status(staff_without_permission) == 403
    assert status(None) == 302  # to the login page
    assert status(customer_member) == (403 if manage_only else 200)
    assert status(staff_with_permission) in (200, 302)
    assert AzureConnection.objects.exists() or name == "disconnect"


def test_runs_of_another_customer_answer_404(mapped, directory, sync, other_admin, other_customer):
    run = sync(mapped)
    client = client_for(other_admin)
    assert client.get(reverse("integrations:run", args=[other_customer.pk, run.pk])).status_code == 404
    assert (
        client.get(reverse("integrations:run_progress", args=[other_customer.pk, run.pk])).status_code == 404
    )
    assert not FieldChange.objects.filter(customer=other_customer).exists()
