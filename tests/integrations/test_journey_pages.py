"""The finished customer journey: the mapping editor's site matches, the first save's
message, live run pages, run history, readable audit rows, contact pages and error pages."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from integrations.services.mapping import NEW_SITE
from portal.customers.models import Contact, Site
from portal.formatting import duration_text
from tests.integrations.test_portal_pages import client_for, url
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_directory(connection, directory, sync):
    """A connected tenant whose directory has been read (a dry run), nothing mapped yet."""
    add_person(directory, mail="ada@contoso.com", officeLocation="london")
    add_person(directory, mail="bea@contoso.com", officeLocation="Paris HQ")
    sync(connection, dry_run=True)
    return connection


def _options(page: str, index: int) -> str:
    return re.search(rf'<select id="target-{index}".*?</select>', page, re.S).group(0)


def test_the_editor_preselects_an_existing_site_of_the_same_name_and_does_not_offer_to_create_it(
    read_directory, customer, customer_admin
):
    london = Site.objects.create(customer=customer, name="London ")

    page = client_for(customer_admin).get(url("mapping", customer)).content.decode()

    rows = dict(re.findall(r'name="value-(\d+)" value="([^"]+)"', page))
    london_row = next(i for i, value in rows.items() if value == "london")
    paris_row = next(i for i, value in rows.items() if value == "Paris HQ")
    assert f'<option value="{london.pk}" selected>' in _options(page, london_row)
    assert NEW_SITE not in _options(page, london_row)
    assert NEW_SITE in _options(page, paris_row)


def test_create_a_site_for_a_value_whose_site_exists_previews_and_saves_into_that_site(
    read_directory, customer, customer_admin
):
    london = Site.objects.create(customer=customer, name="LONDON")
    form = {"attribute": "officeLocation", "rows": "1", "value-0": "london", "target-0": NEW_SITE}
    client = client_for(customer_admin)

    preview = client.post(url("mapping", customer), {**form, "action": "preview"}).content.decode()
    client.post(url("mapping", customer), {**form, "action": "save"})

    assert "Sites to create on saving" not in preview
    assert "<strong>create 1</strong>" in preview
    assert Site.objects.filter(customer=customer).count() == 1
    assert SiteMapping.objects.get(connection=read_directory).site == london


def test_the_first_save_says_the_first_import_started(read_directory, customer, customer_admin):
    form = {"attribute": "officeLocation", "rows": "1", "value-0": "london", "target-0": NEW_SITE}

    response = client_for(customer_admin).post(
        url("mapping", customer), {**form, "action": "save"}, follow=True
    )

    text = response.content.decode()
    assert "The first import has started" in text
    assert "already" not in text


def test_the_run_page_renders_the_run_row_and_its_progress_json_carries_times_and_duration(
    mapped, directory, sync, customer_member
):
    add_person(directory)
    run = sync(mapped)
    started = timezone.now() - timedelta(seconds=10)
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=started, finished_at=started + timedelta(milliseconds=800)
    )
    client = client_for(customer_member)

    page = client.get(url("run", mapped.customer, run.pk)).content.decode()
    data = client.get(url("run_progress", mapped.customer, run.pk)).json()

    assert "Waiting for a worker" not in page and "0.8 s" in page
    assert f'data-rendered-status="{SyncRun.Status.SUCCEEDED}"' in page
    assert data["duration"] == "0.8 s" and data["finished"] != "—" and data["started"] != "—"
    assert data["counts"]["compared"] == run.created + run.updated + run.unchanged + run.skipped == 1


def test_a_queued_run_page_says_it_waits_and_will_reload_when_the_run_ends(mapped, customer_member):
    run = SyncRun.queue(mapped, trigger=SyncRun.Trigger.MANUAL)

    page = client_for(customer_member).get(url("run", mapped.customer, run.pk)).content.decode()

    assert "Waiting for a worker" in page and 'data-rendered-status="queued"' in page


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.04, "0.0 s"), (0.8, "0.8 s"), (12.34, "12.3 s"), (65, "1 min 05 s"), (3725, "1 h 02 min")],
)
def test_durations_read_in_tenths_of_a_second_then_minutes_and_hours(seconds, text):
    assert duration_text(timedelta(seconds=seconds)) == text


def test_durations_use_the_italian_decimal_comma_in_italian():
    with translation.override("it"):
        assert duration_text(timedelta(seconds=12.34)) == "12,3 s"


def test_the_management_page_shows_only_the_current_connections_runs(
    mapped, directory, sync, customer, customer_admin
):
    add_person(directory)
    old = sync(mapped)
    SyncRun.objects.filter(pk=old.pk).update(
        connection=None, tenant_id="99999999-9999-9999-9999-999999999999"
    )
    AzureConnection.objects.filter(pk=mapped.pk).update(tenant_id="22222222-2222-2222-2222-222222222222")
    current = SyncRun.queue(mapped, trigger=SyncRun.Trigger.MANUAL)

    page = client_for(customer_admin).get(url("manage", customer)).content.decode()

    recent, _, history = page.partition('<details class="card history">')
    assert reverse("integrations:run", args=[customer.pk, current.pk]) in recent
    assert reverse("integrations:run", args=[customer.pk, old.pk]) not in recent
    assert reverse("integrations:run", args=[customer.pk, old.pk]) in history
    assert "Last sync</dt><dd>Not yet" in recent


def test_the_run_history_is_paginated_newest_first(mapped, customer, customer_member):
    runs = [SyncRun.objects.create(customer=customer, connection=mapped, trigger="manual") for _ in range(27)]
    client = client_for(customer_member)

    first = client.get(url("runs", customer)).content.decode()
    second = client.get(url("runs", customer), {"page": "2"}).content.decode()
    hostile = client.get(url("runs", customer), {"page": "x' OR 1=1"})

    assert "27 runs" in first and "Page 1 of 2" in first
    assert reverse("integrations:run", args=[customer.pk, runs[-1].pk]) in first
    assert reverse("integrations:run", args=[customer.pk, runs[0].pk]) in second
    assert hostile.status_code == 200


def test_the_run_history_of_another_customer_is_not_found(mapped, other_admin):
    assert client_for(other_admin).get(url("runs", mapped.customer)).status_code == 404


def test_a_created_contact_shows_its_initial_values_on_the_audit_page_and_in_the_csv(
    mapped, directory, sync, customer_member
):
    add_person(directory, jobTitle="Analyst")
    run = sync(mapped)
    client = client_for(customer_member)

    page = client.get(url("audit", mapped.customer)).content.decode()
    response = client.get(url("audit_csv", mapped.customer))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))

    assert json.loads(FieldChange.objects.get(run=run).new_value)["job_title"] == "Analyst"
    for text in (
        "<dt>First name</dt><dd>Ada</dd>",
        "<dt>Job title</dt><dd>Analyst</dd>",
        "<dt>Site</dt><dd>Milan</dd>",
    ):
        assert text in page
    created = rows[1]
    assert created[3] == "created" and created[6] == "Created"
    assert "First name: Ada" in created[5] and "Site: Milan" in created[5]


def test_audit_rows_use_field_labels_not_column_names(mapped, directory, sync, customer_member):
    user = add_person(directory, jobTitle="Analyst")
    sync(mapped)
    directory.update(user, jobTitle="Lead")
    sync(mapped)

    page = client_for(customer_member).get(url("audit", mapped.customer)).content.decode()

    assert "<td>Job title</td>" in page and "<td>job_title</td>" not in page


def test_a_synced_contact_page_is_marked_managed_by_entra_and_shows_its_history(
    mapped, directory, sync, customer, customer_member
):
    add_person(directory, jobTitle="Analyst")
    sync(mapped)
    synced = Contact.objects.get(email="ada@contoso.com")
    manual = Contact.objects.create(customer=customer, email="typed@contoso.com", first_name="Typed")
    client = client_for(customer_member)

    synced_page = client.get(reverse("portal:contact", args=[customer.pk, synced.pk])).content.decode()
    manual_page = client.get(reverse("portal:contact", args=[customer.pk, manual.pk])).content.decode()

    assert (
        "Managed by Microsoft Entra ID" in synced_page and "<dt>Job title</dt><dd>Analyst</dd>" in synced_page
    )
    assert "Managed by Microsoft Entra ID" not in manual_page
    assert "has not changed this contact" in manual_page


def test_a_contact_of_another_customer_is_not_found(mapped, directory, sync, other_admin):
    add_person(directory)
    sync(mapped)
    contact = Contact.objects.get()

    response = client_for(other_admin).get(reverse("portal:contact", args=[mapped.customer.pk, contact.pk]))

    assert response.status_code == 404


def test_a_member_gets_a_styled_403_page_that_says_why(mapped, customer_member):
    response = client_for(customer_member).post(url("sync_now", mapped.customer))

    page = response.content.decode()
    assert response.status_code == 403
    assert "portal.css" in page and "You do not have permission" in page
    assert "administrator of this customer" in page


def test_an_unknown_page_gets_the_styled_404_page(customer_member):
    response = client_for(customer_member).get("/customers/987654/")

    assert response.status_code == 404
    assert (
        "portal.css" in response.content.decode() and "This page does not exist" in response.content.decode()
    )


def test_the_admin_marks_a_synced_contacts_directory_fields_and_not_a_typed_ones(
    mapped, directory, sync, customer, superuser
):
    add_person(directory)
    sync(mapped)
    synced = Contact.objects.get(email="ada@contoso.com")
    typed = Contact.objects.create(customer=customer, email="typed@contoso.com")
    client = client_for(superuser)

    synced_page = client.get(reverse("admin:customers_contact_change", args=[synced.pk])).content.decode()
    typed_page = client.get(reverse("admin:customers_contact_change", args=[typed.pk])).content.decode()

    assert synced_page.count("the next sync overwrites a change made here") == 5
    assert "Managed by Microsoft Entra ID" in synced_page
    assert "Managed by Microsoft Entra ID" not in typed_page


def test_a_created_mailbox_shows_its_kind_and_display_name_in_the_audit_log(
    mapped, directory, sync, customer_member
):
    add_person(
        directory,
        purpose="room",
        givenName=None,
        surname=None,
        displayName="Room Milan 1.04",
        mail="room@contoso.com",
        accountEnabled=False,
        assignedLicenses=[],
    )
    sync(mapped)

    page = client_for(customer_member).get(url("audit", mapped.customer)).content.decode()

    assert "<dt>First name</dt><dd>Room Milan 1.04</dd>" in page
    assert "<dt>Mailbox</dt><dd>Room mailbox</dd>" in page


def test_a_value_sent_twice_takes_its_last_choice_in_the_preview_and_the_save(
    read_directory, customer, customer_admin
):
    form = {
        "attribute": "officeLocation",
        "rows": "2",
        "value-0": "london",
        "target-0": NEW_SITE,
        "value-1": "LONDON",
        "target-1": "",
    }
    client = client_for(customer_admin)

    preview = client.post(url("mapping", customer), {**form, "action": "preview"}).content.decode()
    client.post(url("mapping", customer), {**form, "action": "save"})

    assert "<strong>create 0</strong>" in preview and "Sites to create" not in preview
    assert not Site.objects.filter(customer=customer).exists()
    assert not SiteMapping.objects.filter(connection=read_directory).exists()
