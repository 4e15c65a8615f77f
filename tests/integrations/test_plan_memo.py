"""A plan with nothing to write is remembered by its inputs' fingerprint and reused while
they stay the same; any change to any input plans again (integrations/sync/plan_memo.py).

The fingerprint is PostgreSQL's: on SQLite every run plans.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from integrations.models import AzureConnection, DirectoryUser, SiteMapping, SyncRun
from integrations.sync import plan_memo, runner
from portal.customers.models import Contact, ContactPin, Site
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(db.vendor != "postgresql", reason="the fingerprint is PostgreSQL's")


@pytest.fixture
def plans(monkeypatch) -> list[int]:
    """How many times the runner built a plan (reading the mirror and the contacts)."""
    built: list[int] = []
    real = runner.build_plan

    def counting(**kwargs):
        built.append(1)
        return real(**kwargs)

    monkeypatch.setattr(runner, "build_plan", counting)
    return built


@pytest.fixture
def settled(mapped, directory, sync, plans):
    """A tenant imported, then synced once more with nothing to do: its plan is remembered."""
    add_person(directory, mail="ada@contoso.com", jobTitle="Analyst")
    add_person(directory, mail="bob@contoso.com", officeLocation="Rome")
    add_person(directory, mail="guest@contoso.com", userType="Guest")
    add_person(directory, mail="nowhere@contoso.com", officeLocation="Atlantis")
    sync(mapped)
    sync(mapped)
    plans.clear()
    return mapped


@postgresql_only
def test_a_run_with_the_inputs_of_a_remembered_plan_records_its_counts_without_planning(settled, sync, plans):
    planned = SyncRun.objects.filter(connection=settled).latest("pk")

    run = sync(settled)

    assert plans == []
    assert run.status == SyncRun.Status.SUCCEEDED
    counts = ("created", "updated", "unchanged", "skipped", "skipped_by_reason", "fields_changed")
    assert [getattr(run, name) for name in counts] == [getattr(planned, name) for name in counts]
    assert (run.unchanged, run.skipped, run.skipped_by_reason) == (
        2,
        2,
        {"guest": 1, "unmapped_site_value": 1},
    )


@postgresql_only
def test_a_contact_edited_with_a_queryset_update_is_overwritten_by_the_next_run(settled, sync, plans):
    Contact.objects.filter(email="ada@contoso.com").update(job_title="Edited in the portal")  # no updated_at

    run = sync(settled)

    assert plans == [1]
    assert run.updated == 1
    assert Contact.objects.get(email="ada@contoso.com").job_title == "Analyst"


@postgresql_only
def test_a_contact_deleted_in_the_portal_is_created_again(settled, sync, plans):
    Contact.objects.filter(email="bob@contoso.com").delete()

    run = sync(settled)

    assert (plans, run.created) == ([1], 1)
    assert Contact.objects.filter(email="bob@contoso.com").exists()


@postgresql_only
def test_a_mirror_row_changed_behind_the_sync_is_planned(settled, sync, plans):
    DirectoryUser.objects.filter(connection=settled, mail="ada@contoso.com").update(job_title="Director")

    run = sync(settled)

    assert (plans, run.updated) == ([1], 1)
    assert Contact.objects.get(email="ada@contoso.com").job_title == "Director"


@postgresql_only
def test_a_directory_change_is_planned(settled, directory, sync, plans):
    ada = DirectoryUser.objects.get(connection=settled, mail="ada@contoso.com").object_id
    directory.update(ada, jobTitle="Director")

    run = sync(settled)

    assert (plans, run.updated) == ([1], 1)


@postgresql_only
def test_a_mapping_change_is_planned(settled, sync, plans, milan, rome):
    SiteMapping.objects.filter(connection=settled, site=rome).delete()

    run = sync(settled)

    assert plans == [1]
    assert run.skipped_by_reason == {"guest": 1, "unmapped_site_value": 2}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: Site.objects.filter(name="Rome").update(name="Roma"), id="site-renamed"),
        pytest.param(
            lambda c: AzureConnection.objects.filter(pk=c.pk).update(licensed_only=True), id="policy"
        ),
        pytest.param(
            lambda c: AzureConnection.objects.filter(pk=c.pk).update(mapping_attribute="department"),
            id="attribute",
        ),
        pytest.param(
            lambda c: ContactPin.objects.create(
                contact=Contact.objects.get(email="ada@contoso.com"), field="job_title"
            ),
            id="pin",
        ),
        pytest.param(
            lambda c: AzureConnection.objects.filter(pk=c.pk).update(
                plan_memo={**c.plan_memo, "planned_at": (timezone.now() - timedelta(days=8)).isoformat()}
            ),
            id="memo-older-than-its-lifetime",
        ),
        pytest.param(
            lambda c: AzureConnection.objects.filter(pk=c.pk).update(
                plan_memo={**c.plan_memo, "planned_at": (timezone.now() + timedelta(days=1)).isoformat()}
            ),
            id="memo-from-a-clock-that-was-ahead",
        ),
    ],
)
@postgresql_only
def test_any_other_input_of_the_plan_plans_again(settled, sync, plans, change):
    settled.refresh_from_db()
    change(settled)

    sync(settled)

    assert plans == [1]


@postgresql_only
def test_a_release_that_changes_the_plans_code_plans_again(settled, sync, plans, monkeypatch):
    monkeypatch.setattr(plan_memo, "_code_version", lambda: "another release")

    sync(settled)

    assert plans == [1]


@postgresql_only
def test_a_plan_with_something_to_write_is_not_remembered(mapped, directory, sync):
    add_person(directory)

    sync(mapped)  # the initial import creates Ada

    mapped.refresh_from_db()
    assert mapped.plan_memo == {}


@postgresql_only
def test_a_dry_run_always_plans_and_shows_its_preview(settled, sync, plans):
    run = sync(settled, dry_run=True)

    assert plans == [1]
    assert run.preview["unchanged"] == 2


@postgresql_only
def test_a_failed_run_remembers_nothing(settled, directory, sync, plans, monkeypatch):
    AzureConnection.objects.filter(pk=settled.pk).update(plan_memo={})
    monkeypatch.setattr(runner.health, "record_success", _raise)

    with pytest.raises(RuntimeError):
        sync(settled)

    settled.refresh_from_db()
    assert settled.plan_memo == {}


def _raise(*args, **kwargs):
    raise RuntimeError("the run's end failed")


@pytest.mark.skipif(db.vendor == "postgresql", reason="SQLite's behaviour")
def test_on_sqlite_every_run_plans(mapped, directory, sync, plans):
    add_person(directory)
    sync(mapped)
    sync(mapped)
    sync(mapped)

    assert plans == [1, 1, 1]
    mapped.refresh_from_db()
    assert mapped.plan_memo == {}


@pytest.fixture
def fingerprints(monkeypatch) -> list[int]:
    taken: list[int] = []
    real = plan_memo.fingerprint

    def counting(*args, **kwargs):
        taken.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_memo, "fingerprint", counting)
    return taken


@postgresql_only
def test_a_run_that_read_changes_with_something_to_write_takes_no_fingerprint(
    settled, directory, sync, fingerprints
):
    ada = DirectoryUser.objects.get(connection=settled, mail="ada@contoso.com").object_id
    directory.update(ada, jobTitle="Director")

    run = sync(settled)

    assert (run.fetched, run.updated, fingerprints) == (1, 1, [])


@postgresql_only
def test_a_run_that_read_changes_with_nothing_to_write_is_remembered_for_the_next(
    settled, directory, sync, plans, fingerprints
):
    ada = DirectoryUser.objects.get(connection=settled, mail="ada@contoso.com").object_id
    directory.update(ada, displayName="Ada L.")  # not a contact field: nothing to write

    first = sync(settled)
    second = sync(settled)

    assert (first.fetched, first.updated, second.fetched) == (1, 0, 0)
    assert plans == [1]  # the second run reused the first one's plan
    assert fingerprints == [1, 1]  # after the first plan; before the second run's (none)
    assert second.unchanged == first.unchanged


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_fingerprint_and_the_plan_read_one_snapshot(mapped, directory, sync, monkeypatch):
    """A contact edited by someone else between the fingerprint and the plan's reads is seen
    by neither: the plan matches its fingerprint, and the next run finds the edit."""
    import psycopg

    add_person(directory, mail="ada@contoso.com", jobTitle="Analyst")
    sync(mapped)
    mapped.refresh_from_db()
    real = plan_memo.fingerprint
    database = db.settings_dict

    def then_edit_elsewhere(*args, **kwargs):
        taken = real(*args, **kwargs)
        with psycopg.connect(
            dbname=database["NAME"],
            host=database["HOST"] or None,
            port=database["PORT"] or None,
            user=database["USER"] or None,
            password=database["PASSWORD"] or None,
            autocommit=True,
        ) as other:
            other.execute("UPDATE customers_contact SET job_title = 'Edited elsewhere'")
        return taken

    monkeypatch.setattr(plan_memo, "fingerprint", then_edit_elsewhere)
    first = sync(mapped)
    monkeypatch.setattr(plan_memo, "fingerprint", real)
    second = sync(mapped)

    assert (first.updated, second.updated) == (0, 1)  # the first run's plan did not see the edit
    assert Contact.objects.get(email="ada@contoso.com").job_title == "Analyst"
