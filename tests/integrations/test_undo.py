"""Undoing a run from its audit trail (section 6.1)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from integrations.models import FieldChange, PauseReason, SyncRun
from integrations.reasons import shown
from integrations.services import runs
from integrations.services.scheduling import due_connections
from integrations.services.undo import UndoNotAllowed, execute_undo, undo_plan, undo_start
from portal.customers.models import Contact
from tests.integrations.safety_helpers import sync_run
from tests.integrations.test_portal_pages import client_for, url
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db

FIELDS = ("email", "first_name", "last_name", "job_title", "mobile_phone", "site_id")


def state() -> dict[str, tuple]:
    return {row[0]: row for row in Contact.objects.values_list(*FIELDS)}


def undo(run: SyncRun, user=None) -> SyncRun:
    return execute_undo(undo_start(run=run, requested_by=user, hand_to_worker=False))


def edit_two_contacts_by_hand() -> None:
    """Ada's title (a field the run overwrote) and Dan's phone (a contact the run created)."""
    ada = Contact.objects.get(email="ada@contoso.com")
    ada.job_title = "Edited by hand"
    ada.save()
    dan = Contact.objects.get(email="dan@contoso.com")
    dan.mobile_phone = "+39 555"
    dan.save()


@pytest.fixture
def synced(mapped, directory):
    """Three people imported, then a run that retitles two, moves one and creates one."""
    ada = add_person(directory, mail="ada@contoso.com", jobTitle="Analyst")
    bob = add_person(directory, mail="bob@contoso.com", givenName="Bob", jobTitle="Clerk")
    cyd = add_person(directory, mail="cyd@contoso.com", givenName="Cyd", jobTitle="Driver")
    sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    before = state()
    directory.update(ada, jobTitle="Head of Analysis", mobilePhone="+39 1")
    directory.update(bob, jobTitle="Chief Clerk")
    directory.update(cyd, officeLocation="Rome")
    add_person(directory, mail="dan@contoso.com", givenName="Dan")
    add_person(directory, mail="eve@contoso.com", givenName="Eve")
    run = sync_run(mapped, directory)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 2
    mapped.refresh_from_db()
    return run, before


def test_undo_restores_exactly_the_old_values_and_deletes_what_it_created(mapped, synced, customer_admin):
    run, before = synced

    result = undo(run, customer_admin)

    assert result.status == SyncRun.Status.SUCCEEDED
    assert result.trigger == SyncRun.Trigger.UNDO and result.undoes == run
    assert state() == before
    assert result.preview["reverted_fields"] == 4 and result.preview["deleted"] == 2
    assert result.preview["conflict_count"] == 0


def test_undo_is_audited_in_its_own_rows_and_the_audit_survives_deleted_contacts(mapped, synced):
    run, _ = synced
    created_rows = FieldChange.objects.filter(run=run, field="created").count()

    result = undo(run)

    rows = FieldChange.objects.filter(run=result)
    assert set(rows.values_list("field", flat=True)) == {"job_title", "mobile_phone", "site", "deleted"}
    title = rows.get(contact_email="ada@contoso.com", field="job_title")
    assert (title.old_value, title.new_value) == ("Head of Analysis", "Analyst")
    deleted = rows.get(contact_email="dan@contoso.com", field="deleted")
    assert deleted.contact is None and json.loads(deleted.old_value)["first_name"] == "Dan"
    # The run's own rows about the deleted contacts are still there, pointing at nobody.
    assert FieldChange.objects.filter(run=run, field="created", contact__isnull=True).count() == created_rows


def test_undo_reports_conflicts_for_contacts_edited_since_and_leaves_them(mapped, synced):
    run, before = synced
    edit_two_contacts_by_hand()

    preview = undo_plan(run)
    result = undo(run)

    assert {(c.email, c.field) for c in preview.conflicts} == {("ada@contoso.com", "job_title")}
    assert [k.email for k in preview.kept] == ["dan@contoso.com"]
    after = state()
    assert after["ada@contoso.com"][3] == "Edited by hand"  # the conflict is left alone
    assert after["ada@contoso.com"][4] == before["ada@contoso.com"][4]  # its other field is put back
    assert "dan@contoso.com" in after and "eve@contoso.com" not in after
    assert shown(result.preview["conflicts"][0]["reason"]) == "changed since to “Edited by hand”"
    assert result.preview["kept"] == [{"email": "dan@contoso.com", "why": "changed since it was created"}]
    assert result.skipped == 2


def test_a_contact_a_later_run_changed_is_a_conflict_too(mapped, directory, synced):
    run, _ = synced
    bob = directory.users[next(i for i, u in directory.users.items() if u["mail"] == "bob@contoso.com")]
    directory.update(bob["id"], jobTitle="Director")
    sync_run(mapped, directory)

    plan = undo_plan(run)

    assert ("bob@contoso.com", "job_title") in {(c.email, c.field) for c in plan.conflicts}


def test_undo_pauses_automatic_syncs_until_resumed(mapped, synced, customer_admin):
    run, _ = synced
    type(mapped).objects.filter(pk=mapped.pk).update(next_sync_at=run.created_at)

    undo(run, customer_admin)

    mapped.refresh_from_db()
    assert mapped.pause_reason == PauseReason.UNDO
    assert mapped not in due_connections()
    with pytest.raises(runs.SyncNotAllowed, match="paused"):
        runs.sync_now(connection=mapped, requested_by=customer_admin)
    mapped.resume()
    assert mapped in due_connections()


def test_an_undo_can_itself_be_undone(mapped, synced):
    run, _ = synced
    after_run = state()
    first = undo(run)
    mapped.refresh_from_db()
    mapped.resume()

    second = undo(first)

    assert second.status == SyncRun.Status.SUCCEEDED
    # Re-created contacts are new rows with the same values.
    assert {e: r[1:] for e, r in state().items()} == {e: r[1:] for e, r in after_run.items()}
    assert FieldChange.objects.filter(run=second, field="created").count() == 2
    # ... and that one too.
    third = undo(second)
    assert third.status == SyncRun.Status.SUCCEEDED
    assert "dan@contoso.com" not in state()


def test_a_run_is_undone_once_and_only_finished_writing_runs_can_be(mapped, directory, synced):
    run, _ = synced
    undo(run)
    with pytest.raises(UndoNotAllowed, match="already undone"):
        undo_start(run=run, requested_by=None, hand_to_worker=False)
    preview = sync_run(mapped, directory)
    SyncRun.objects.filter(pk=preview.pk).update(dry_run=True)
    preview.refresh_from_db()
    with pytest.raises(UndoNotAllowed, match="preview"):
        undo_start(run=preview, requested_by=None, hand_to_worker=False)


def test_undo_waits_while_a_sync_is_queued(mapped, synced):
    run, _ = synced
    SyncRun.queue(mapped, trigger=SyncRun.Trigger.MANUAL)
    with pytest.raises(UndoNotAllowed, match="queued or running"):
        undo_start(run=run, requested_by=None, hand_to_worker=False)


def test_azure_runs_lists_runs_and_azure_undo_undoes_one(mapped, synced, capsys):
    run, before = synced
    call_command("azure_runs", "Contoso", "--json")
    listed = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in listed][:2] == [run.pk, run.pk - 1]
    assert listed[0]["trigger"] == "manual" and listed[0]["created"] == 2

    call_command("azure_undo", str(run.pk))
    out = capsys.readouterr().out
    assert "4 fields put back" in out and "paused" in out
    assert state() == before

    call_command("azure_runs", "Contoso")
    assert f"undoes #{run.pk}" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already undone"):
        call_command("azure_undo", str(run.pk))
    with pytest.raises(CommandError, match="No sync run"):
        call_command("azure_undo", "nope")
    with pytest.raises(CommandError, match="No customer"):
        call_command("azure_runs", "Nobody")


def test_a_field_already_back_to_its_old_value_is_neither_written_nor_a_conflict(mapped, synced):
    """As after an interrupted undo, retried: what was put back stays, the rest is done."""
    run, before = synced
    ada = Contact.objects.get(email="ada@contoso.com")
    ada.job_title = "Analyst"  # already the value before the run
    ada.save()

    result = undo(run)

    assert result.status == SyncRun.Status.SUCCEEDED
    assert state() == before
    assert result.preview["already_restored"] == 1 and result.preview["conflict_count"] == 0
    assert not FieldChange.objects.filter(
        run=result, contact_email="ada@contoso.com", field="job_title"
    ).exists()


def test_an_undo_that_failed_can_be_started_again(mapped, synced):
    run, before = synced
    failed = undo_start(run=run, requested_by=None, hand_to_worker=False)
    SyncRun.objects.filter(pk=failed.pk).update(status=SyncRun.Status.FAILED)

    again = undo(run)

    assert again.status == SyncRun.Status.SUCCEEDED and state() == before


def test_a_run_of_a_disconnected_customer_is_undone_through_its_new_connection(mapped, synced, customer):
    from integrations.models import AzureConnection
    from integrations.services.connections import connection_disconnect

    run, before = synced
    connection_disconnect(connection=mapped)
    run.refresh_from_db()
    with pytest.raises(UndoNotAllowed, match="no longer connected"):
        undo_start(run=run, requested_by=None, hand_to_worker=False)

    again = AzureConnection.objects.create(customer=customer, tenant_id=mapped.tenant_id)
    result = undo(run)

    assert result.status == SyncRun.Status.SUCCEEDED and result.connection == again
    assert state() == before
    again.refresh_from_db()
    assert again.pause_reason == PauseReason.UNDO


def test_an_executed_undos_conflicts_and_kept_contacts_read_in_the_readers_language(
    mapped, synced, customer_admin
):
    # The undo runs in a worker (its language is the portal's): what it stores is shown
    # in the language of whoever reads the run page, with the values it names.
    run, _ = synced
    edit_two_contacts_by_hand()
    with translation.override("en"):
        result = undo(run)

    page = client_for(customer_admin).get(
        url("run", mapped.customer, result.pk), HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9"
    )

    text = page.content.decode()
    assert "nel frattempo cambiato in “Edited by hand”" in text
    assert "— Qualifica: nel frattempo" in text  # the field's label, not its column name
    assert "modificato dopo la creazione" in text
    assert "changed since" not in text
    # Its progress counts the undone run's recorded changes, not directory users.
    assert "modifiche registrate elaborate" in text
    assert "utenti elaborati" not in text
    # It reads the audit log, never Microsoft: the page does not say it did.
    assert "Letti da Microsoft Entra ID" not in text and "Richieste a Microsoft" not in text
