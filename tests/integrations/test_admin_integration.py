"""The staff admin of the integration: connections, runs and the audit log are
seen only by integration staff, and are read-only for everyone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import AzureConnection, FieldChange, Health, MappingAttribute, SiteMapping, SyncRun
from portal.customers.models import Contact, Customer, Site

pytestmark = pytest.mark.django_db

OTHER_TENANT_ID = "99999999-8888-7777-6666-555555555555"
MODELS = ["azureconnection", "syncrun", "fieldchange"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(mapped, milan, other_customer):
    """A finished run of Contoso with its audit rows, and one of Fabrikam."""
    now = timezone.now()
    contact = Contact.objects.create(
        customer=mapped.customer, site=milan, email="Ada.Lovelace@contoso.com", first_name="Ada"
    )
    run = SyncRun.objects.create(
        customer=mapped.customer,
        connection=mapped,
        tenant_id=mapped.tenant_id,
        trigger=SyncRun.Trigger.MANUAL,
        status=SyncRun.Status.SUCCEEDED,
        created_at=now - timedelta(minutes=5),
        started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=3, seconds=55),
        fetched=12,
        created=1,
        updated=1,
        unchanged=8,
        skipped=2,
        skipped_by_reason={"guest": 2},
        fields_changed=1,
        warnings=["Shared mailboxes could not be told apart: MailboxSettings.Read is not granted."],
    )
    FieldChange.objects.create(
        run=run,
        customer=mapped.customer,
        contact=contact,
        contact_email=contact.email,
        field="job_title",
        old_value="Analyst",
        new_value="Countess",
    )
    FieldChange.objects.create(
        run=run,
        customer=mapped.customer,
        contact=contact,
        contact_email=contact.email,
        field=FieldChange.CREATED,
        new_value=contact.email,
    )
    other_connection = AzureConnection.objects.create(
        customer=other_customer,
        tenant_id=OTHER_TENANT_ID,
        mapping_attribute=MappingAttribute.DEPARTMENT,
        health=Health.NEEDS_ATTENTION,
        health_reason="Consent was revoked: reconnect.",
    )
    other_run = SyncRun.objects.create(
        customer=other_customer,
        connection=other_connection,
        trigger=SyncRun.Trigger.SCHEDULED,
        status=SyncRun.Status.FAILED,
        error="Microsoft refused the token: consent was revoked.",
        error_kind="consent",
    )
    other_contact = Contact.objects.create(customer=other_customer, email="x@fabrikam.com")
    FieldChange.objects.create(
        run=other_run,
        customer=other_customer,
        contact=other_contact,
        contact_email=other_contact.email,
        field="first_name",
        old_value="",
        new_value="Xavier",
    )
    return run


def object_of(model: str) -> object:
    return {
        "azureconnection": AzureConnection.objects.order_by("pk").first(),
        "syncrun": SyncRun.objects.order_by("pk").first(),
        "fieldchange": FieldChange.objects.order_by("pk").first(),
    }[model]


@pytest.fixture(params=["superuser", "staff_with_permission"])
def integration_staff(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("model", MODELS)
def test_it_renders_the_changelists_for_integration_staff(integration_staff, history, model):
    response = logged_in(integration_staff).get(reverse(f"admin:integrations_{model}_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 2


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("query", [{"q": "contoso"}, {"q": "zzz"}, {"o": "2"}])
def test_it_renders_searches_and_orderings(superuser, history, model, query):
    response = logged_in(superuser).get(reverse(f"admin:integrations_{model}_changelist"), query)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("azureconnection", {"health__exact": "healthy", "mapping_attribute__exact": "officeLocation"}),
        ("syncrun", {"status__exact": "failed", "trigger__exact": "scheduled", "dry_run__exact": "0"}),
        ("fieldchange", {"field": "job_title", "run__trigger__exact": "manual"}),
    ],
)
def test_it_renders_filtered_changelists(superuser, history, model, query):
    response = logged_in(superuser).get(reverse(f"admin:integrations_{model}_changelist"), query)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1


@pytest.mark.parametrize("model", ["syncrun", "fieldchange"])
def test_it_drills_down_by_date(superuser, history, model):
    field = {"syncrun": "created_at", "fieldchange": "changed_at"}[model]
    today = timezone.localdate()
    query = {f"{field}__year": today.year, f"{field}__month": today.month, f"{field}__day": today.day}

    response = logged_in(superuser).get(reverse(f"admin:integrations_{model}_changelist"), query)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 1


@pytest.mark.parametrize("model", MODELS)
def test_it_renders_the_detail_pages_read_only(integration_staff, history, model):
    obj = object_of(model)

    response = logged_in(integration_staff).get(reverse(f"admin:integrations_{model}_change", args=[obj.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert 'name="_continue"' not in content


@pytest.mark.parametrize("user", ["superuser", "staff_with_permission"])
@pytest.mark.parametrize("model", MODELS)
def test_nobody_adds_changes_or_deletes_through_the_admin(request, history, user, model):
    client = logged_in(request.getfixturevalue(user))
    obj = object_of(model)
    count = type(obj).objects.count()

    add = client.get(reverse(f"admin:integrations_{model}_add"))
    change = client.post(reverse(f"admin:integrations_{model}_change", args=[obj.pk]), {})
    delete = client.post(reverse(f"admin:integrations_{model}_delete", args=[obj.pk]), {"post": "yes"})
    bulk_delete = client.post(
        reverse(f"admin:integrations_{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert bulk_delete.status_code in (200, 302)
    assert type(obj).objects.count() == count


@pytest.mark.parametrize("model", MODELS)
def test_the_changelists_offer_no_add_button_and_no_delete_action(superuser, history, model):
    response = logged_in(superuser).get(reverse(f"admin:integrations_{model}_changelist"))

    assert response.context["has_add_permission"] is False
    assert "delete_selected" not in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("view", ["changelist", "change", "add", "delete", "history"])
def test_staff_without_the_permission_get_403_everywhere(staff_without_permission, history, model, view):
    args = [] if view in ("changelist", "add") else [object_of(model).pk]

    response = logged_in(staff_without_permission).get(
        reverse(f"admin:integrations_{model}_{view}", args=args)
    )

    assert response.status_code == 403


def test_staff_without_the_permission_do_not_see_the_integration_on_the_index(staff_without_permission, db):
    client = logged_in(staff_without_permission)

    index = client.get(reverse("admin:index"))
    app = client.get(reverse("admin:app_list", args=["integrations"]))

    assert "integrations" not in {app["app_label"] for app in index.context["app_list"]}
    assert app.status_code == 404


def test_staff_with_the_permission_see_the_integration_on_the_index(staff_with_permission, db):
    response = logged_in(staff_with_permission).get(reverse("admin:index"))

    models = {
        model["object_name"]
        for app in response.context["app_list"]
        if app["app_label"] == "integrations"
        for model in app["models"]
    }
    assert models == {"AzureConnection", "SyncRun", "FieldChange"}


def test_the_run_page_shows_warnings_skips_error_and_its_changes(superuser, history):
    client = logged_in(superuser)
    other_run = SyncRun.objects.exclude(pk=history.pk).get()

    page = client.get(reverse("admin:integrations_syncrun_change", args=[history.pk])).content.decode()
    failed = client.get(reverse("admin:integrations_syncrun_change", args=[other_run.pk])).content.decode()

    assert "MailboxSettings.Read is not granted" in page
    assert "Guest account: 2" in page
    assert "1 min 05 s" in page
    changes_link = f"{reverse('admin:integrations_fieldchange_changelist')}?run__id__exact={history.pk}"
    assert f'href="{changes_link}"' in page
    assert "2 changes in the audit log" in page
    assert "Microsoft refused the token: consent was revoked." in failed


def test_the_run_link_lists_only_that_runs_changes(superuser, history):
    response = logged_in(superuser).get(
        reverse("admin:integrations_fieldchange_changelist"), {"run__id__exact": history.pk}
    )

    assert response.status_code == 200
    assert {change.run_id for change in response.context["cl"].result_list} == {history.pk}
    assert len(response.context["cl"].result_list) == 2


def test_the_audit_log_shows_old_and_new_values_and_links_the_run(superuser, history):
    content = logged_in(superuser).get(reverse("admin:integrations_fieldchange_changelist")).content.decode()

    assert "Analyst → Countess" in content
    assert "(empty) → Xavier" in content
    assert "ada.lovelace@contoso.com" in content.lower()
    assert reverse("admin:integrations_syncrun_change", args=[history.pk]) in content


def filter_choices(response, field: str) -> set[str]:
    for spec in response.context["cl"].filter_specs:
        if getattr(spec, "field_path", None) == field:
            return {label for _pk, label in spec.lookup_choices}
    raise AssertionError(f"no filter on {field}")


def test_the_customer_filters_list_only_customers_with_runs_or_changes(superuser, history):
    Customer.objects.create(name="Northwind")  # no connection, no runs, no changes
    client = logged_in(superuser)

    changes = client.get(reverse("admin:integrations_fieldchange_changelist"))
    runs = client.get(reverse("admin:integrations_syncrun_changelist"))

    assert filter_choices(changes, "customer") == {"Contoso", "Fabrikam"}
    assert filter_choices(runs, "customer") == {"Contoso", "Fabrikam"}


def test_the_audit_log_does_not_count_the_whole_table(superuser, history):
    response = logged_in(superuser).get(
        reverse("admin:integrations_fieldchange_changelist"), {"q": "contoso"}
    )

    assert response.context["cl"].show_full_result_count is False


def test_the_connection_page_shows_the_mapping_without_internals(superuser, history, mapped):
    mapped.delta_link = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=SECRET-LOOKING-CURSOR"
    mapped.save()

    response = logged_in(superuser).get(
        reverse("admin:integrations_azureconnection_change", args=[mapped.pk])
    )

    content = response.content.decode()
    assert "Milan HQ" in content
    assert "SECRET-LOOKING-CURSOR" not in content
    assert "lease_token" not in content
    assert reverse("integrations:manage", args=[mapped.customer_id]) in content


def test_the_connection_mapping_inline_cannot_be_edited(superuser, mapped):
    response = logged_in(superuser).get(
        reverse("admin:integrations_azureconnection_change", args=[mapped.pk])
    )

    inline = response.context["inline_admin_formsets"][0]
    assert inline.has_add_permission is False
    assert inline.has_change_permission is False
    assert inline.has_delete_permission is False


def test_the_connection_changelist_disconnects_only_after_confirmation(superuser, history, mapped):
    client = logged_in(superuser)
    url = reverse("admin:integrations_azureconnection_changelist")
    queued = SyncRun.objects.create(
        customer=mapped.customer, connection=mapped, trigger=SyncRun.Trigger.MANUAL
    )
    data = {"action": "disconnect", "_selected_action": [mapped.pk]}

    confirm = client.post(url, data)
    assert confirm.status_code == 200
    assert "Contoso Ltd" in confirm.content.decode()
    assert AzureConnection.objects.filter(pk=mapped.pk).exists()

    done = client.post(url, {**data, "post": "yes"})
    assert done.status_code == 302
    assert not AzureConnection.objects.filter(pk=mapped.pk).exists()
    assert AzureConnection.objects.filter(tenant_id=OTHER_TENANT_ID).exists()
    assert Contact.objects.filter(customer=mapped.customer).exists()
    assert FieldChange.objects.filter(run=history).count() == 2
    queued.refresh_from_db()
    assert queued.status == SyncRun.Status.CANCELLED
    assert not SiteMapping.objects.exists()
    assert Site.objects.filter(customer=mapped.customer).count() == 2


def test_the_connection_changelist_syncs_now(superuser, mapped):
    url = reverse("admin:integrations_azureconnection_changelist")

    logged_in(superuser).post(url, {"action": "sync_now", "_selected_action": [mapped.pk]})

    assert SyncRun.objects.get().status == SyncRun.Status.QUEUED


def test_staff_without_the_permission_cannot_run_connection_actions(staff_without_permission, mapped):
    client = logged_in(staff_without_permission)
    url = reverse("admin:integrations_azureconnection_changelist")

    for action in ["sync_now", "disconnect"]:
        response = client.post(url, {"action": action, "_selected_action": [mapped.pk], "post": "yes"})
        assert response.status_code == 403

    assert AzureConnection.objects.filter(pk=mapped.pk).exists()
    assert not SyncRun.objects.exists()
