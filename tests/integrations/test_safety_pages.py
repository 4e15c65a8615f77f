"""The safety net on the portal: who may approve, reject, undo, pause and resume,
what forged or replayed requests do, and what the pages show."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import FieldChange, PauseReason, SyncRun
from portal.customers.models import Contact
from tests.integrations.safety_helpers import populate, sync_run
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


def url(name: str, customer, run=None) -> str:
    args = [customer.pk] if run is None else [customer.pk, run.pk]
    return reverse(f"integrations:{name}", args=args)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def held(mapped, directory):
    ids = populate(directory, 100)
    sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    for user_id in ids[:60]:
        directory.update(user_id, jobTitle="Bulk")
    run = sync_run(mapped, directory)
    assert run.status == SyncRun.Status.HELD
    return run


@pytest.fixture
def finished(mapped, directory):
    ada = add_person(directory, mail="ada@contoso.com")
    sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    directory.update(ada, jobTitle="Head")
    add_person(directory, mail="new@contoso.com")
    return sync_run(mapped, directory)


def test_the_management_page_shows_the_held_run_with_its_buttons(customer, held, customer_admin):
    page = client_for(customer_admin).get(url("manage", customer)).content.decode()

    assert 'id="held-banner"' in page
    assert url("run_approve", customer, held) in page and url("run_reject", customer, held) in page
    assert "None until the held run is approved or rejected" in page


def test_an_admin_approves_from_the_page_and_a_replay_changes_nothing(customer, held, customer_admin):
    client = client_for(customer_admin)
    response = client.post(url("run_approve", customer, held))

    approval = SyncRun.objects.get(approves=held)
    assert response.status_code == 302 and response.url == url("run", customer, approval)
    assert approval.status == SyncRun.Status.QUEUED and approval.requested_by == customer_admin

    replay = client.post(url("run_approve", customer, held), follow=True)
    assert "already approved" in replay.content.decode()
    assert SyncRun.objects.filter(approves=held).count() == 1


def test_reject_pauses_and_the_page_says_so_with_resume(customer, mapped, held, customer_admin):
    client = client_for(customer_admin)
    client.post(url("run_reject", customer, held))

    mapped.refresh_from_db()
    assert mapped.pause_reason == PauseReason.REJECTED
    page = client.get(url("manage", customer)).content.decode()
    assert 'id="paused-banner"' in page and url("resume", customer) in page

    refused = client.post(url("sync_now", customer), follow=True).content.decode()
    assert "paused" in refused
    assert not SyncRun.objects.filter(connection=mapped, status=SyncRun.Status.QUEUED).exists()

    client.post(url("resume", customer))
    mapped.refresh_from_db()
    assert not mapped.is_paused


@pytest.mark.parametrize("name", ["run_approve", "run_reject", "run_undo"])
def test_members_get_403_strangers_404_and_get_is_not_an_action(
    name, customer, held, customer_member, other_admin, customer_admin
):
    assert client_for(customer_member).post(url(name, customer, held)).status_code == 403
    assert client_for(other_admin).post(url(name, customer, held)).status_code == 404
    if name != "run_undo":
        assert client_for(customer_admin).get(url(name, customer, held)).status_code == 405
    held.refresh_from_db()
    assert held.is_awaiting_decision


def test_a_run_of_another_customer_answers_404(customer, other_customer, held, other_admin):
    assert client_for(other_admin).post(url("run_approve", other_customer, held)).status_code == 404


def test_pause_and_resume_need_admins_and_csrf(customer, mapped, customer_member, customer_admin):
    assert client_for(customer_member).post(url("pause", customer)).status_code == 403
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(customer_admin)
    assert forged.post(url("pause", customer)).status_code == 403
    mapped.refresh_from_db()
    assert not mapped.is_paused

    client_for(customer_admin).post(url("pause", customer))
    mapped.refresh_from_db()
    assert mapped.pause_reason == PauseReason.MANUAL and mapped.paused_by == customer_admin


def test_the_undo_confirmation_lists_what_will_happen_and_writes_nothing(customer, finished, customer_admin):
    before = list(Contact.objects.values_list("email", "job_title"))
    page = client_for(customer_admin).get(url("run_undo", customer, finished)).content.decode()

    assert "1 field put back (contacts: 1)" in page
    assert "1 contact the run created will be deleted" in page
    assert "new@contoso.com" in page and "Head" in page
    assert list(Contact.objects.values_list("email", "job_title")) == before
    assert not SyncRun.objects.filter(trigger=SyncRun.Trigger.UNDO).exists()


def test_confirming_the_undo_queues_it_pauses_and_a_replay_is_refused(
    customer, mapped, finished, customer_admin
):
    client = client_for(customer_admin)
    response = client.post(url("run_undo", customer, finished))

    undo = SyncRun.objects.get(undoes=finished)
    assert response.url == url("run", customer, undo)
    assert undo.trigger == SyncRun.Trigger.UNDO and undo.status == SyncRun.Status.QUEUED
    mapped.refresh_from_db()
    assert mapped.pause_reason == PauseReason.UNDO
    replay = client.post(url("run_undo", customer, finished), follow=True).content.decode()
    assert "already undone" in replay
    assert SyncRun.objects.filter(undoes=finished).count() == 1
    page = client.get(url("manage", customer)).content.decode()
    assert "Syncs paused after an undo: fix the directory or the mapping, then resume." in page


def test_the_run_page_offers_undo_to_admins_only(customer, finished, customer_admin, customer_member):
    assert (
        url("run_undo", customer, finished)
        in client_for(customer_admin).get(url("run", customer, finished)).content.decode()
    )
    assert (
        url("run_undo", customer, finished)
        not in client_for(customer_member).get(url("run", customer, finished)).content.decode()
    )
    assert client_for(customer_member).get(url("run_undo", customer, finished)).status_code == 403


def test_the_held_run_page_shows_the_sample_and_the_decision_buttons(customer, held, customer_admin):
    page = client_for(customer_admin).get(url("run", customer, held)).content.decode()

    assert "Held by the mass-change brake" in page and "Bulk" in page
    assert url("run_approve", customer, held) in page
    assert url("run_undo", customer, held) not in page  # a held run wrote nothing
    assert not FieldChange.objects.filter(run=held).exists()
