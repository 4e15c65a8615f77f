"""The safety-net actions of the admin: two-step approve, reject and undo of runs,
pause and resume of connections; integration staff only."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from integrations.models import AzureConnection, PauseReason, SyncRun
from portal.customers.models import Contact
from tests.integrations.safety_helpers import populate, sync_run
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:integrations_syncrun_changelist")
CONNECTIONS = reverse("admin:integrations_azureconnection_changelist")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, url: str, action: str, objects, *, confirm: bool):
    data = {"action": action, ACTION_CHECKBOX_NAME: [obj.pk for obj in objects]}
    if confirm:
        data["post"] = "yes"
    return client.post(url, data, follow=confirm)


@pytest.fixture
def held(mapped, directory):
    ids = populate(directory, 100)
    sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    for user_id in ids[:60]:
        directory.update(user_id, jobTitle="Bulk")
    return sync_run(mapped, directory)


@pytest.mark.parametrize("action", ["approve_held", "reject_held", "undo_runs"])
def test_each_run_action_asks_first_and_does_nothing_until_confirmed(action, held, staff_with_permission):
    page = act(logged_in(staff_with_permission), RUNS, action, [held], confirm=False)

    content = page.content.decode()
    assert page.status_code == 200 and f"#{held.pk}" in content
    if action == "undo_runs":  # a held run wrote nothing: nothing to confirm
        assert "nothing to do" in content and 'name="post"' not in content
    else:
        assert 'name="post" value="yes"' in content
    held.refresh_from_db()
    assert held.is_awaiting_decision
    assert not SyncRun.objects.filter(approves=held).exists()


def test_staff_approve_a_held_run_in_two_steps(held, staff_with_permission):
    response = act(logged_in(staff_with_permission), RUNS, "approve_held", [held], confirm=True)

    assert "Approved; applying in" in response.content.decode()
    approval = SyncRun.objects.get(approves=held)
    assert approval.status == SyncRun.Status.QUEUED and approval.requested_by == staff_with_permission


def test_staff_reject_a_held_run_and_its_connection_pauses(held, mapped, staff_with_permission):
    act(logged_in(staff_with_permission), RUNS, "reject_held", [held], confirm=True)

    held.refresh_from_db()
    mapped.refresh_from_db()
    assert held.decision == SyncRun.Decision.REJECTED
    assert mapped.pause_reason == PauseReason.REJECTED


def test_staff_undo_a_run_in_two_steps(mapped, directory, staff_with_permission):
    ada = add_person(directory, mail="ada@contoso.com", jobTitle="Analyst")
    sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    directory.update(ada, jobTitle="Head")
    run = sync_run(mapped, directory)
    client = logged_in(staff_with_permission)

    page = act(client, RUNS, "undo_runs", [run], confirm=False).content.decode()
    assert "Fields put back: 1 (contacts: 1)" in page
    assert Contact.objects.get().job_title == "Head"

    act(client, RUNS, "undo_runs", [run], confirm=True)
    undo = SyncRun.objects.get(undoes=run)
    assert undo.trigger == SyncRun.Trigger.UNDO
    assert AzureConnection.objects.get(pk=mapped.pk).pause_reason == PauseReason.UNDO


def test_staff_pause_and_resume_connections(mapped, staff_with_permission):
    client = logged_in(staff_with_permission)
    act(client, CONNECTIONS, "pause_connections", [mapped], confirm=False)
    assert AzureConnection.objects.get(pk=mapped.pk).pause_reason == PauseReason.MANUAL
    act(client, CONNECTIONS, "resume_connections", [mapped], confirm=False)
    assert not AzureConnection.objects.get(pk=mapped.pk).is_paused


@pytest.mark.parametrize("action", ["approve_held", "reject_held", "undo_runs"])
def test_staff_without_the_permission_cannot_use_the_actions(action, held, staff_without_permission):
    response = act(logged_in(staff_without_permission), RUNS, action, [held], confirm=True)

    assert response.status_code == 403
    held.refresh_from_db()
    assert held.is_awaiting_decision
    assert not SyncRun.objects.filter(undoes=held).exists()
