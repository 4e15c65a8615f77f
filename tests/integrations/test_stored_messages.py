"""Messages a run stores (its warnings) are shown in the reader's language, values included."""

from __future__ import annotations

import pytest
from django.utils import translation

from integrations.graph.client import parse_user
from integrations.lease import Lease
from integrations.models import SyncRun
from integrations.reasons import RECORD_NOTE, message, shown
from integrations.sync.runner import run_sync
from integrations.values import clean_text
from tests.integrations.test_sync_rules import add_person


def test_a_message_without_values_is_stored_as_its_id_alone():
    assert message("Nothing to do.") == "Nothing to do."
    assert message("%(count)d left", count=2) == {"message": "%(count)d left", "params": {"count": 2}}


def test_a_record_note_is_shown_with_its_values_in_the_active_language():
    _, note = clean_text("job_title", "x" * 200)
    stored = message(RECORD_NOTE, user="obj-1", note=note)

    with translation.override("en"):
        assert shown(stored) == "obj-1: job_title was longer than 128 characters and was shortened"
    with translation.override("it"):
        assert shown(stored) == "obj-1: job_title superava i 128 caratteri ed è stato accorciato"


def test_why_a_graph_record_was_dropped_is_a_message_whose_values_are_translated_too():
    reason = parse_user({"id": "obj-2", "accountEnabled": "yes"})

    with translation.override("en"):
        assert shown(reason) == "user obj-2: accountEnabled is not a boolean"
    with translation.override("it"):
        assert shown(reason) == "utente obj-2: accountEnabled non è un valore vero/falso"


def test_data_in_a_message_is_shown_as_it_is_whatever_the_language():
    """A field's name or an object id is data: never looked up in the catalogue (where
    "department" happens to be a label), so every field's note reads alike."""
    _, note = clean_text("department", "x" * 200)

    with translation.override("it"):
        assert shown(message(RECORD_NOTE, user="surname", note=note)) == (
            "surname: department superava i 64 caratteri ed è stato accorciato"
        )


def test_a_malformed_stored_warning_is_shown_as_text_never_an_error():
    with translation.override("it"):
        assert shown({"params": {"count": 1}}) == "{'params': {'count': 1}}"
        assert shown({"message": "%(count)d left", "params": "not a mapping"}) == "%(count)d left"
        assert shown(42) == "42"


def test_text_stored_before_messages_had_values_is_shown_as_it_is():
    with translation.override("it"):
        assert shown("12 contact(s) were created in the portal during the sync") == (
            "12 contact(s) were created in the portal during the sync"
        )
        assert shown({"message": "%(count)d left", "params": {}}) == "%(count)d left"
        assert shown({"message": "%(count)d left", "params": {"other": 1}}) == "%(count)d left"


@pytest.mark.django_db
def test_a_run_stopped_by_a_lost_lease_says_why_in_the_readers_language(mapped, directory, monkeypatch):
    add_person(directory)
    monkeypatch.setattr(Lease, "extend", lambda self, **values: False)  # taken over, or disconnected

    with translation.override("en"):
        run = run_sync(mapped, trigger="manual", client_factory=lambda tenant_id: directory)

    assert run.status == SyncRun.Status.CANCELLED
    with translation.override("it"):
        assert run.error_text == (
            "Interrotto: La connessione è stata scollegata o un'altra sincronizzazione è subentrata."
        )
    with translation.override("en"):
        assert run.error_text == "Stopped: The connection was disconnected or another sync took over."


@pytest.mark.django_db
def test_a_held_run_that_then_fails_keeps_none_of_the_brakes_values(mapped):
    # Its error is the failure's message now: values left from the hold would be put into it.
    run = SyncRun.queue(mapped, trigger="scheduled")
    run.start()
    assert run.hold({"update": 80}, "%(affected)d of %(synced)d", {"affected": 80, "synced": 200})

    run.fail(kind="internal", message="The sync failed because of an internal error; it has been logged.")

    stored = SyncRun.objects.get(pk=run.pk)
    assert (stored.status, stored.error_params) == (SyncRun.Status.FAILED, {})
