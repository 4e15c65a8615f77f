"""`azure_map` and `azure_sync` as an operator uses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations.models import SiteMapping, SyncRun
from integrations.sync import runner
from portal.activity.models import Activity
from portal.customers.models import Contact, Site
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_graph(monkeypatch, directory):
    monkeypatch.setattr(runner, "default_client_factory", directory)


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_azure_map_list_reads_the_directory_first_and_counts_users_per_value(connection, directory, milan):
    add_person(directory, mail="a@contoso.com", officeLocation="Milan HQ")
    add_person(directory, mail="b@contoso.com", officeLocation=" milan hq")
    add_person(directory, mail="d@contoso.com", officeLocation="Milan HQ")
    add_person(directory, mail="c@contoso.com", officeLocation="Rome")
    SiteMapping.objects.create(connection=connection, value="milan hq", site=milan)

    output = run("azure_map", "Contoso", "--list")

    assert "Reading the directory first" in output
    assert "Milan HQ" in output and "3 users  → Milan" in output
    assert "Rome" in output and "(not mapped)" in output
    assert SyncRun.objects.get().dry_run


def test_azure_map_maps_a_value_to_an_existing_or_new_site_and_unmaps_it(connection, milan):
    assert "Mapped 'Milan HQ' → Milan" in run("azure_map", str(connection.customer_id), "Milan HQ", "milan")
    assert "→ Turin" in run("azure_map", "contoso", "Turin Office", "Turin", "--create-site")
    assert Site.objects.filter(customer=connection.customer, name="Turin").exists()
    assert set(SiteMapping.objects.values_list("value_key", flat=True)) == {"milan hq", "turin office"}

    assert "Unmapped" in run("azure_map", "Contoso", "TURIN OFFICE", "--unmap")
    assert SiteMapping.objects.count() == 1


def test_azure_map_changes_go_to_the_activity_log_without_an_actor(connection, milan):
    run("azure_map", "Contoso", "Milan HQ", "Milan")
    run("azure_map", "Contoso", "--list")  # a read records nothing

    changes = Activity.objects.filter(kind=Activity.Kind.MAPPING_CHANGED)
    assert changes.count() == 1
    change = changes.get()
    assert change.actor is None and change.customer == connection.customer
    assert "Milan HQ" in change.new_value and "Milan" in change.new_value


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Nobody", "--list"), "No customer named"),
        (("Contoso", "X", "Atlantis"), "has no site 'Atlantis'"),
        (("Contoso", "X", "--unmap"), "is not mapped"),
        (("Contoso",), "Give --list"),
    ],
)
def test_azure_map_bad_input_is_a_one_line_error(connection, args, message):
    with pytest.raises(CommandError, match=message):
        run("azure_map", *args)


def test_azure_map_refuses_customers_without_connection(other_customer):
    with pytest.raises(CommandError, match="has no Microsoft Entra ID connection"):
        run("azure_map", "Fabrikam", "--list")


def test_azure_sync_runs_now_and_prints_counts(mapped, directory):
    add_person(directory, mail="a@contoso.com")
    add_person(directory, mail="g@partner.com", userType="Guest")

    output = run("azure_sync", "Contoso")

    assert "succeeded" in output and "created 1" in output and "skipped 1: guest" in output
    assert Contact.objects.count() == 1


def test_azure_sync_dry_run_changes_nothing(mapped, directory):
    add_person(directory, mail="a@contoso.com")

    output = run("azure_sync", "Contoso", "--dry-run")

    assert "(dry run)" in output and "created 1" in output
    assert not Contact.objects.exists()


def test_azure_sync_due_runs_only_due_connections(mapped, directory):
    add_person(directory, mail="a@contoso.com")
    mapped.next_sync_at = timezone.now() + timedelta(hours=1)
    mapped.save()
    assert "No connection is due" in run("azure_sync", "--due")

    mapped.next_sync_at = timezone.now() - timedelta(minutes=1)
    mapped.save()
    output = run("azure_sync", "--due")

    assert "Contoso" in output and "created 1" in output
    mapped.refresh_from_db()
    assert mapped.next_sync_at > timezone.now() + timedelta(hours=11)


def test_azure_sync_exits_non_zero_when_the_sync_fails(mapped, directory):
    directory.fail_after_pages = 0
    add_person(directory, mail="a@contoso.com")
    with pytest.raises(CommandError, match="1 sync"):
        run("azure_sync", "Contoso")


def test_azure_sync_needs_a_customer_or_due():
    with pytest.raises(CommandError, match="either a CUSTOMER or --due"):
        run("azure_sync")
