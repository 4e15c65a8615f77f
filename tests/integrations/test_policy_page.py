"""The policy page: who may use it, the preview (the plan with the unsaved policy),
saving with its author, forged and hostile requests."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import AzureConnection, SyncRun
from portal.activity.models import Activity
from portal.customers.models import Contact
from tests.integrations.test_policies_sync import add_person

pytestmark = pytest.mark.django_db


def page(customer) -> str:
    return reverse("integrations:policies", args=[customer.pk])


@pytest.fixture
def with_leaver(mapped, directory, sync):
    gone = add_person(directory, 1)
    add_person(directory, 2)
    sync(mapped)
    directory.remove(gone)
    sync(mapped)  # keep: the leaver's contact stays active
    return mapped


def test_the_manage_page_links_to_the_policies_and_shows_them(client, customer_admin, connection):
    client.force_login(customer_admin)

    html = client.get(reverse("integrations:manage", args=[connection.customer_id])).content.decode()

    assert page(connection.customer) in html
    assert "Keep the contact as it is" in html


def test_members_get_403_and_strangers_404(client, customer_member, other_admin, connection):
    client.force_login(customer_member)
    assert client.get(page(connection.customer)).status_code == 403
    assert (
        client.post(page(connection.customer), {"action": "save", "leavers": "deactivate"}).status_code == 403
    )
    client.force_login(other_admin)
    assert client.get(page(connection.customer)).status_code == 404
    connection.refresh_from_db()
    assert connection.leavers == "keep"


def test_the_preview_counts_what_would_change_and_saves_nothing(client, customer_admin, with_leaver):
    client.force_login(customer_admin)

    response = client.post(
        page(with_leaver.customer), {"action": "preview", "leavers": "deactivate", "identity": "email"}
    )

    assert response.status_code == 200
    assert response.context["preview"]["policy"]["deactivated"] == 1
    assert response.context["preview"]["policy"]["sample_deactivated"] == ["p1@contoso.com"]
    assert 'data-preview="deactivated">1<' in response.content.decode()
    with_leaver.refresh_from_db()
    assert with_leaver.leavers == "keep"
    assert not Activity.objects.exists()


def test_saving_records_the_change_with_its_author_and_the_run_does_what_the_preview_said(
    client, customer_admin, with_leaver, sync
):
    client.force_login(customer_admin)
    form = {"action": "preview", "leavers": "deactivate", "identity": "object", "brake_percent": "30"}
    preview = client.post(page(with_leaver.customer), form).context["preview"]

    response = client.post(page(with_leaver.customer), {**form, "action": "save"})
    run = sync(with_leaver)

    assert response.status_code == 302
    with_leaver.refresh_from_db()
    assert (with_leaver.leavers, with_leaver.identity, with_leaver.brake_percent) == (
        "deactivate",
        "object",
        30,
    )
    record = Activity.objects.get()
    assert (record.kind, record.actor) == (Activity.Kind.POLICY_CHANGED, customer_admin)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.created, run.updated, run.skipped) == (
        preview["create"],
        preview["update"],
        preview["skipped"],
    )
    assert run.policy_summary["deactivated"] == preview["policy"]["deactivated"] == 1
    assert not Contact.objects.get(email="p1@contoso.com").is_active


def test_a_forged_post_without_the_csrf_token_is_refused(customer_admin, connection):
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(customer_admin)

    response = forged.post(page(connection.customer), {"action": "save", "leavers": "deactivate"})

    assert response.status_code == 403
    assert AzureConnection.objects.get().leavers == "keep"


@pytest.mark.parametrize(
    "form",
    [
        {"leavers": "delete-everyone"},
        {"identity": "'; DROP TABLE x; --"},
        {"brake_percent": "-5"},
        {"brake_percent": "1e9"},
        {"scope_groups": "../../etc/passwd"},
        {"portal_owned_fields": "email"},
    ],
)
def test_hostile_values_are_refused_with_a_message_and_nothing_is_saved(
    client, customer_admin, connection, form
):
    client.force_login(customer_admin)

    response = client.post(page(connection.customer), {"action": "save", **form})

    assert response.status_code == 400
    assert response.context["error"]
    connection.refresh_from_db()
    assert (connection.leavers, connection.identity, connection.brake_percent) == ("keep", "email", None)
    assert not Activity.objects.exists()


def test_choosing_groups_says_a_new_consent_is_needed_and_unread_groups_are_flagged(
    client, customer_admin, connection
):
    client.force_login(customer_admin)
    group = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

    response = client.post(page(connection.customer), {"action": "preview", "scope_groups": group})

    html = response.content.decode()
    assert "GroupMember.Read.All" in html
    assert response.context["unread_groups"] == [group]


def test_a_replayed_save_changes_nothing_more(client, customer_admin, connection):
    client.force_login(customer_admin)
    form = {"action": "save", "leavers": "deactivate", "identity": "email"}

    client.post(page(connection.customer), form)
    client.post(page(connection.customer), form)

    assert Activity.objects.count() == 1


def test_the_connection_admin_shows_the_policies_and_links_to_the_page(client, superuser, connection):
    client.force_login(superuser)

    html = client.get(
        reverse("admin:integrations_azureconnection_change", args=[connection.pk])
    ).content.decode()

    assert "Policies" in html and page(connection.customer) in html
