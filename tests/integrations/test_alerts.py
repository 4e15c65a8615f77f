"""Alerts: one e-mail to the customer's administrators and one to OPS_EMAIL when
a connection enters needs-attention (revoked consent) or quarantine, once per
change of state; a recovery e-mail when it heals. Queued after the commit as
django-q2 tasks; a failed delivery schedules another attempt."""

from __future__ import annotations

import smtplib
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django_q.models import OrmQ, Schedule

from integrations import alerts
from integrations.graph.errors import ConsentRequiredError, TransientError
from integrations.models import AzureConnection, Health
from integrations.sync.runner import run_sync
from portal.customers.models import Membership
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ops(settings):
    settings.OPS_EMAIL = "ops@msp.example"


@pytest.fixture
def admins(customer):
    make_user("alice", customer=customer, role=Membership.Role.ADMIN, email="alice@contoso.com")
    make_user("anna", customer=customer, role=Membership.Role.ADMIN, email="anna@contoso.com")
    make_user("bob", customer=customer, role=Membership.Role.MEMBER, email="bob@contoso.com")


def failing(error: Exception):
    def factory(tenant_id: str):
        raise error

    return factory


def sync_with(connection: AzureConnection, capture, client_factory):
    connection.refresh_from_db()
    with capture(execute=True):
        return run_sync(connection, trigger="scheduled", client_factory=client_factory)


def queued_alerts() -> list[tuple]:
    """The alert tasks waiting in django-q2's queue, delivered (and removed) here as a worker would."""
    tasks = [
        row.task
        for row in OrmQ.objects.order_by("id")
        if row.task.get("func") == "integrations.alerts.deliver"
    ]
    OrmQ.objects.all().delete()
    for task in tasks:
        alerts.deliver(*task["args"])
    return [task["args"][1] for task in tasks]


def consent_revoked():
    return failing(ConsentRequiredError("AADSTS7000229: consent revoked", code="AADSTS7000229", status=401))


def test_revoked_consent_alerts_admins_and_ops_once(
    connection, admins, directory, django_capture_on_commit_callbacks
):
    sync_with(connection, django_capture_on_commit_callbacks, consent_revoked())

    assert queued_alerts() == ["admins", "ops"]
    to_admins, to_ops = mail.outbox
    assert to_admins.to == ["alice@contoso.com", "anna@contoso.com"]
    assert to_ops.to == ["ops@msp.example"]
    assert "Needs attention" in to_admins.subject and "Contoso" in to_admins.subject
    assert "Import from Azure AD" in to_admins.body  # the fix
    assert "/integrations/azure/customers/" in to_admins.body and "/admin/integrations/" in to_ops.body

    sync_with(connection, django_capture_on_commit_callbacks, consent_revoked())
    sync_with(connection, django_capture_on_commit_callbacks, consent_revoked())
    assert queued_alerts() == []
    assert len(mail.outbox) == 2


def test_healing_sends_one_recovery_and_then_nothing(
    mapped, admins, directory, django_capture_on_commit_callbacks
):
    sync_with(mapped, django_capture_on_commit_callbacks, consent_revoked())
    queued_alerts()
    # A transient failure meanwhile is not a change people are told about.
    sync_with(mapped, django_capture_on_commit_callbacks, failing(TransientError("timeout")))
    assert queued_alerts() == []

    sync_with(mapped, django_capture_on_commit_callbacks, directory)
    mapped.refresh_from_db()
    assert mapped.health == Health.HEALTHY
    assert queued_alerts() == ["admins", "ops"]
    recovery = mail.outbox[-1]
    assert recovery.subject.startswith("Resolved:")

    sync_with(mapped, django_capture_on_commit_callbacks, directory)
    assert queued_alerts() == []


def test_quarantine_alerts_and_backing_off_does_not(connection, admins, django_capture_on_commit_callbacks):
    for _ in range(5):
        sync_with(connection, django_capture_on_commit_callbacks, failing(TransientError("timeout")))
    connection.refresh_from_db()
    assert connection.health == Health.BACKING_OFF
    assert queued_alerts() == []

    sync_with(connection, django_capture_on_commit_callbacks, failing(TransientError("timeout")))
    connection.refresh_from_db()
    assert connection.health == Health.QUARANTINED
    assert queued_alerts() == ["admins", "ops"]
    assert "Quarantined" in mail.outbox[0].subject


def test_nothing_is_queued_before_the_transaction_commits(
    connection, admins, django_capture_on_commit_callbacks
):
    from integrations import health as outcome

    connection.health = Health.NEEDS_ATTENTION
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        outcome._save(connection, health=Health.NEEDS_ATTENTION, health_reason="consent revoked")
        assert OrmQ.objects.count() == 0
    assert OrmQ.objects.count() == 0
    assert len(callbacks) == 1
    callbacks[0]()  # the commit
    assert OrmQ.objects.count() == 2


def test_a_failed_delivery_schedules_another_attempt(connection, admins, django_capture_on_commit_callbacks):
    sync_with(connection, django_capture_on_commit_callbacks, consent_revoked())
    task = next(row.task for row in OrmQ.objects.order_by("id"))
    with (
        mock.patch(
            "django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=smtplib.SMTPException
        ),
        pytest.raises(smtplib.SMTPException),
    ):
        alerts.deliver(*task["args"])
    retry = Schedule.objects.get(func="integrations.alerts.deliver")
    assert retry.schedule_type == Schedule.ONCE
    assert "2" in retry.args  # the second attempt


def test_no_ops_address_means_no_ops_email(connection, admins, settings, django_capture_on_commit_callbacks):
    settings.OPS_EMAIL = ""
    sync_with(connection, django_capture_on_commit_callbacks, consent_revoked())
    queued_alerts()
    assert [message.to for message in mail.outbox] == [["alice@contoso.com", "anna@contoso.com"]]


def test_a_broken_alert_never_breaks_the_sync_outcome(connection, admins, django_capture_on_commit_callbacks):
    with mock.patch("integrations.alerts._payload", side_effect=RuntimeError("template missing")):
        run = sync_with(connection, django_capture_on_commit_callbacks, consent_revoked())
    assert run.status == "failed"
    connection.refresh_from_db()
    assert connection.health == Health.NEEDS_ATTENTION


def test_a_held_run_tells_the_admins_and_ops_once_with_a_link_to_the_run(
    mapped, directory, admins, django_capture_on_commit_callbacks
):
    from integrations.models import SyncRun
    from tests.integrations.safety_helpers import populate, sync_run

    ids = populate(directory, 200)
    with django_capture_on_commit_callbacks(execute=True):
        sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    assert queued_alerts() == []
    for user_id in ids[:80]:
        directory.update(user_id, jobTitle="Bulk HR title")

    with django_capture_on_commit_callbacks(execute=True):
        held = sync_run(mapped, directory)

    assert held.status == SyncRun.Status.HELD
    assert queued_alerts() == ["admins", "ops"]
    to_admins, to_ops = mail.outbox
    assert "held for approval" in to_admins.subject
    assert f"/runs/{held.pk}/" in to_admins.body and "/admin/integrations/" in to_ops.body
    assert "80 of 200 synced contacts" in to_admins.body  # the reason, put together with its values
    assert to_admins.to == ["alice@contoso.com", "anna@contoso.com"]
