"""The mass-change brake (section 6.1): held, approved, rejected, and the delta link."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from integrations.models import FieldChange, PauseReason, SyncRun
from integrations.policies.brake import Threshold
from integrations.services import runs
from integrations.services.held_runs import DecisionNotAllowed, run_approve, run_reject
from integrations.services.scheduling import due_connections
from portal.customers.models import Contact
from tests.integrations.safety_helpers import approve_and_apply, populate, sync_run

pytestmark = pytest.mark.django_db

TENANT = 200


def titles() -> dict[str, str]:
    return dict(Contact.objects.values_list("email", "job_title"))


@pytest.fixture
def imported(mapped, directory):
    """A 200-person tenant, imported (the initial import is never braked)."""
    ids = populate(directory, TENANT)
    run = sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == TENANT
    return ids


def retitle(directory, ids, share: float, title: str = "Bulk HR title") -> None:
    for user_id in ids[: int(len(ids) * share)]:
        directory.update(user_id, jobTitle=title)


def test_a_bulk_title_change_of_30_percent_ends_held_and_writes_nothing(mapped, directory, imported):
    before = titles()
    audit_before = FieldChange.objects.count()
    retitle(directory, imported, 0.30)

    run = sync_run(mapped, directory)

    assert run.status == SyncRun.Status.HELD
    assert run.is_awaiting_decision
    assert titles() == before
    assert FieldChange.objects.count() == audit_before
    assert run.preview["update"] == 60
    assert run.preview["sample_changes"][0]["new"] == "Bulk HR title"
    assert "60 of 200" in run.error_text
    mapped.refresh_from_db()
    assert mapped.last_sync_at is not None  # from the import; a held run is no success
    assert mapped.delta_link == f"delta:{directory.version}"  # the changes were read


def test_approve_re_plans_the_mirror_and_applies_it(mapped, directory, imported, customer_admin):
    retitle(directory, imported, 0.30)
    held = sync_run(mapped, directory)
    requests_before = len(directory.requests)

    approval = approve_and_apply(held, directory, by=customer_admin)

    assert approval.status == SyncRun.Status.SUCCEEDED
    assert approval.approves == held
    assert len(directory.requests) == requests_before  # no new read: the mirror holds what was held
    assert sum(1 for title in titles().values() if title == "Bulk HR title") == 60
    assert FieldChange.objects.filter(run=approval, field="job_title").count() == 60
    held.refresh_from_db()
    assert (held.decision, held.decided_by) == (SyncRun.Decision.APPROVED, customer_admin)
    with pytest.raises(DecisionNotAllowed):  # a replayed approval does nothing
        run_approve(run=held, by=customer_admin, hand_to_worker=False)
    assert SyncRun.objects.filter(approves=held).count() == 1


def test_approve_says_so_instead_of_applying_when_the_plan_grew_a_lot(mapped, directory, imported):
    retitle(directory, imported, 0.30)
    held = sync_run(mapped, directory)
    before = titles()
    # Someone edits 40 more contacts locally: the re-plan would overwrite 100, not 60.
    for contact in Contact.objects.filter(email__in=[f"person{n}@contoso.com" for n in range(100, 140)]):
        contact.job_title = "Local edit"
        contact.save()
        before[contact.email] = "Local edit"

    approval = approve_and_apply(held, directory)

    assert approval.status == SyncRun.Status.HELD
    assert approval.is_awaiting_decision
    assert "60 contacts to update then, 100 now" in approval.error_text
    assert titles() == before
    assert approve_and_apply(approval, directory).status == SyncRun.Status.SUCCEEDED


def test_reject_writes_nothing_and_pauses_the_connection(mapped, directory, imported, customer_admin):
    before = titles()
    retitle(directory, imported, 0.30)
    held = sync_run(mapped, directory)

    run_reject(run=held, by=customer_admin)

    assert titles() == before
    mapped.refresh_from_db()
    assert mapped.is_paused and mapped.pause_reason == PauseReason.REJECTED
    assert mapped.paused_by == customer_admin
    held.refresh_from_db()
    assert held.decision == SyncRun.Decision.REJECTED
    with pytest.raises(runs.SyncNotAllowed, match="paused"):
        runs.sync_now(connection=mapped, requested_by=customer_admin)
    with pytest.raises(DecisionNotAllowed):
        run_approve(run=held, by=customer_admin, hand_to_worker=False)


def test_the_changes_a_held_and_rejected_run_read_are_applied_after_resuming(mapped, directory, imported):
    """The delta link moved on past the changes; the mirror kept them, and the plan reads the mirror."""
    retitle(directory, imported, 0.30)
    held = sync_run(mapped, directory)
    run_reject(run=held, by=None)
    mapped.refresh_from_db()
    mapped.resume()
    mapped.brake_percent = 100  # the admin decided the change is right after all
    mapped.save()

    run = sync_run(mapped, directory)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.fetched == 0  # the delta round brought nothing new
    assert sum(1 for title in titles().values() if title == "Bulk HR title") == 60


def test_a_held_run_is_held_again_after_resume_while_the_directory_still_says_so(mapped, directory, imported):
    retitle(directory, imported, 0.30)
    run_reject(run=sync_run(mapped, directory), by=None)
    mapped.refresh_from_db()
    mapped.resume()

    again = sync_run(mapped, directory)

    assert again.status == SyncRun.Status.HELD
    assert again.preview["update"] == 60


def test_a_run_under_the_threshold_is_not_held(mapped, directory, imported):
    retitle(directory, imported, 0.10)  # 20 contacts: 10 %, and under the minimum of 50

    run = sync_run(mapped, directory)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert sum(1 for title in titles().values() if title == "Bulk HR title") == 20


def test_a_small_tenant_is_not_braked_by_changing_everyone(mapped, directory):
    ids = populate(directory, 40)
    sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    retitle(directory, ids, 1.0)

    assert sync_run(mapped, directory).status == SyncRun.Status.SUCCEEDED


def test_the_threshold_is_per_connection_with_global_defaults(mapped, directory, imported, settings):
    settings.AZURE_BRAKE_PERCENT = 50
    retitle(directory, imported, 0.30)
    assert sync_run(mapped, directory).status == SyncRun.Status.SUCCEEDED

    retitle(directory, imported, 0.30, title="Second bulk title")
    mapped.brake_percent, mapped.brake_minimum = 25, 10
    mapped.save()
    assert sync_run(mapped, directory).status == SyncRun.Status.HELD


def test_site_moves_count_like_overwritten_fields(mapped, directory, imported):
    for user_id in imported[:60]:
        directory.update(user_id, officeLocation="Rome")

    run = sync_run(mapped, directory)

    assert run.status == SyncRun.Status.HELD
    assert {change["field"] for change in run.preview["sample_changes"]} == {"site"}


def test_the_initial_import_and_previews_are_never_braked(mapped, directory):
    populate(directory, 120)
    Contact.objects.bulk_create(
        Contact(customer=mapped.customer, email=f"person{n}@contoso.com", job_title="Old") for n in range(120)
    )
    assert sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL).status == SyncRun.Status.SUCCEEDED


def test_while_a_run_is_held_the_scheduler_queues_nothing_and_sync_now_says_why(
    mapped, directory, imported, customer_admin
):
    retitle(directory, imported, 0.30)
    held = sync_run(mapped, directory)
    type(mapped).objects.filter(pk=mapped.pk).update(next_sync_at=held.created_at)

    assert mapped not in due_connections()
    with pytest.raises(runs.SyncNotAllowed, match="held for approval"):
        runs.sync_now(connection=mapped, requested_by=customer_admin)
    assert runs.directory_read(
        connection=mapped, requested_by=customer_admin
    ).started  # a preview writes nothing

    SyncRun.objects.filter(connection=mapped, status=SyncRun.Status.QUEUED).delete()
    run_reject(run=held, by=None)
    mapped.refresh_from_db()
    mapped.resume()
    assert mapped in due_connections()


def test_threshold_arithmetic():
    threshold = Threshold(percent=20, minimum=50)
    assert not threshold.exceeded_by(49, 100)  # under the minimum count
    assert not threshold.exceeded_by(50, 250)  # exactly 20 % is not more
    assert threshold.exceeded_by(51, 250)
    assert not Threshold(percent=100, minimum=0).exceeded_by(1000, 1000)


def test_commands_approve_and_reject_held_runs(mapped, directory, imported, capsys):
    from django.core.management.base import CommandError

    retitle(directory, imported, 0.30)
    held = sync_run(mapped, directory)
    with pytest.raises(CommandError, match="No sync run numbered"):
        call_command("azure_reject", str(held.pk + 1000))
    with pytest.raises(CommandError, match="not held"):
        call_command("azure_approve", str(SyncRun.objects.get(trigger="initial").pk))
    call_command("azure_reject", str(held.pk))
    assert "rejected" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already rejected"):
        call_command("azure_approve", str(held.pk))
    mapped.refresh_from_db()
    mapped.resume()

    held_again = sync_run(mapped, directory)
    call_command("azure_approve", str(held_again.pk))
    out = capsys.readouterr().out
    assert "approved" in out and "succeeded" in out
    assert sum(1 for title in titles().values() if title == "Bulk HR title") == 60
