"""Pause and resume as a state of the connection (section 6.1): the scheduler skips
paused connections, the state survives a restart, the button and commands resume."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from integrations import tasks
from integrations.models import AzureConnection, PauseReason, SyncRun
from integrations.services import runs, scheduling
from integrations.sync import runner
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def due(mapped, directory, monkeypatch):
    """A due, mapped connection; django-q2 in sync mode, so a queued run executes at once."""
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr(runner, "default_client_factory", directory)
    add_person(directory)
    AzureConnection.objects.filter(pk=mapped.pk).update(next_sync_at=timezone.now() - timedelta(minutes=1))
    mapped.refresh_from_db()
    return mapped


def test_paused_connections_are_skipped_by_the_scheduler_and_resumed_by_the_button(
    due, customer, customer_admin, django_capture_on_commit_callbacks
):
    assert due.pause(PauseReason.MANUAL, by=customer_admin)
    restarted = AzureConnection.objects.get(pk=due.pk)  # a new process reads the row: nothing lost
    assert restarted.is_paused and restarted.paused_by == customer_admin

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch_due_syncs() == 0
    assert not SyncRun.objects.exists()

    client = Client()
    client.force_login(customer_admin)
    client.post(reverse("integrations:resume", args=[customer.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch_due_syncs() == 1
    run = SyncRun.objects.get()
    assert (run.trigger, run.status) == ("scheduled", "succeeded")


def test_the_dispatcher_survives_a_connection_paused_between_finding_and_queueing(due, monkeypatch):
    found = [due]
    due.pause(PauseReason.MANUAL)
    monkeypatch.setattr(scheduling, "due_connections", lambda: found)

    assert tasks.dispatch_due_syncs() == 0


def test_sync_now_is_refused_on_a_paused_connection_but_a_preview_is_allowed(due, customer_admin):
    due.pause(PauseReason.UNDO)

    with pytest.raises(runs.SyncNotAllowed, match="paused"):
        runs.sync_now(connection=due, requested_by=customer_admin)
    assert runs.directory_read(connection=due, requested_by=customer_admin).started


def test_pause_and_resume_are_idempotent_conditional_updates(due):
    assert due.pause(PauseReason.MANUAL)
    assert not due.pause(PauseReason.MANUAL)
    assert due.pause(PauseReason.UNDO)  # a later reason replaces the earlier one
    assert AzureConnection.objects.get(pk=due.pk).pause_reason == PauseReason.UNDO
    assert due.resume()
    assert not due.resume()


def test_commands_pause_resume_and_the_command_sync_respects_the_pause(due, capsys):
    from django.core.management.base import CommandError

    call_command("azure_pause", "Contoso")
    assert "paused" in capsys.readouterr().out
    with pytest.raises(CommandError, match="refused"):
        call_command("azure_sync", "Contoso")
    assert "paused" in capsys.readouterr().out
    call_command("azure_resume", "Contoso")
    assert "resumed" in capsys.readouterr().out
    assert not AzureConnection.objects.get(pk=due.pk).is_paused


def test_the_brake_command_shows_and_sets_the_threshold(due, capsys, settings):
    from django.core.management.base import CommandError

    settings.AZURE_BRAKE_PERCENT, settings.AZURE_BRAKE_MINIMUM = 20, 50
    call_command("azure_brake", "Contoso")
    out = capsys.readouterr().out
    assert "(default)" in out and "more than 20%" in out and "at least 50" in out
    call_command("azure_brake", "Contoso", "--percent", "35", "--minimum", "10")
    due.refresh_from_db()
    assert (due.brake_percent, due.brake_minimum) == (35, 10)
    with pytest.raises(CommandError):
        call_command("azure_brake", "Contoso", "--percent", "0")
    call_command("azure_brake", "Contoso", "--default")
    due.refresh_from_db()
    assert (due.brake_percent, due.brake_minimum) == (None, None)
