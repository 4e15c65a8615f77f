"""Deciding a run the mass-change brake held (docs/design.md §6.1).

Approve queues an approval run: it re-plans against the current mirror
(which holds every change the held run read) and applies, unless the plan
changed a lot since, in which case it is held again and says so. Reject writes
nothing and pauses the connection until someone resumes it; the changes the
held run read stay in the mirror, so the next run after resuming still sees them.
Each decision is a conditional update: a replayed or concurrent decision does nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext

from integrations import selectors
from integrations.models import AzureConnection, PauseReason, SyncRun


class DecisionNotAllowed(Exception):
    """The held run cannot be decided (any more); the message is safe to show."""


def _connection_of(run: SyncRun) -> AzureConnection:
    if not run.is_awaiting_decision:
        if run.decision:
            raise DecisionNotAllowed(
                gettext("Run #%(id)d was already %(decision)s.")
                % {"id": run.pk, "decision": run.get_decision_display().lower()}
            )
        raise DecisionNotAllowed(gettext("Run #%(id)d is not held for approval.") % {"id": run.pk})
    connection = run.connection
    if connection is None:
        raise DecisionNotAllowed(gettext("The connection of this run was disconnected."))
    return connection


def run_approve(*, run: SyncRun, by: User | None, hand_to_worker: bool = True) -> SyncRun:
    """Approve a held run; returns the queued approval run that will apply it."""
    from integrations.services import runs

    connection = _connection_of(run)
    if not connection.customer.azure_sync_available:
        raise DecisionNotAllowed(gettext("The customer's plan no longer includes the Azure AD sync."))
    user = by if by is not None and by.is_authenticated else None
    with transaction.atomic():
        AzureConnection.objects.select_for_update().filter(pk=connection.pk).first()
        runs.reap_abandoned_runs(connection=connection)
        if selectors.active_run(connection=connection) is not None:
            raise DecisionNotAllowed(
                gettext("Another run of this connection is queued or running; try again when it ends.")
            )
        if not run.decide(SyncRun.Decision.APPROVED, by=user):
            raise DecisionNotAllowed(gettext("Run #%(id)d was already decided.") % {"id": run.pk})
        approval = SyncRun.queue(connection, trigger=run.trigger, requested_by=user)
        SyncRun.objects.filter(pk=approval.pk).update(approves=run)
        approval.approves = run
        if hand_to_worker:
            transaction.on_commit(lambda: runs._hand_to_worker(approval))
    return approval


def run_reject(*, run: SyncRun, by: User | None) -> AzureConnection:
    """Reject a held run: nothing is written and the connection pauses."""
    connection = _connection_of(run)
    user = by if by is not None and by.is_authenticated else None
    with transaction.atomic():
        if not run.decide(SyncRun.Decision.REJECTED, by=user):
            raise DecisionNotAllowed(gettext("Run #%(id)d was already decided.") % {"id": run.pk})
        connection.pause(PauseReason.REJECTED, by=user)
    return connection
