"""Queueing syncs: Sync now (R13), the initial import, the scheduler's runs.

A run is created `queued` and handed to a django-q2 worker, which calls
`run_sync`. At most one run per connection is queued or running at a time;
asking again says so instead of starting another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from integrations import selectors
from integrations.lease import holder_run_id, is_leased
from integrations.models import AzureConnection, SyncRun
from integrations.services import pause
from portal.activity import services as activity

# A queued run no worker picked up within this time is considered lost
# (the broker was flushed, the task failed before starting).
QUEUED_RUN_TIMEOUT = timedelta(seconds=settings.Q_CLUSTER["retry"])


class SyncNotAllowed(Exception):
    """The customer's plan no longer includes the sync (R17); the message says so."""


@dataclass(frozen=True)
class Enqueued:
    run: SyncRun
    started: bool  # False: an active run already existed and is returned instead

    @property
    def message(self) -> str:
        if self.started:
            return _("Sync started. Contacts update as soon as it finishes.")
        if self.run.status == SyncRun.Status.QUEUED:
            return _("A sync is already queued for this customer; no new one was started.")
        return _("A sync is already running for this customer; no new one was started.")


def active_run_after_reaping(connection: AzureConnection) -> SyncRun | None:
    """The active run of the connection once runs whose worker died are closed: what a writer
    (Sync now, an approval, an undo) checks under the connection's row lock, so that a Sync now
    right after a worker was killed starts at once. Pages read `selectors.active_run`."""
    reap_abandoned_runs(connection=connection)
    return selectors.active_run(connection=connection)


def run_enqueue(
    *,
    connection: AzureConnection,
    trigger: str,
    requested_by: User | None = None,
    dry_run: bool = False,
) -> Enqueued:
    """Queue a sync unless one is already queued or running (checked under a row lock).

    A dry run reads the directory and plans without writing contacts: it is
    how a new connection learns the offices/departments to map.
    """
    if not connection.customer.azure_sync_available:
        raise SyncNotAllowed(
            _(
                "%(customer)s's %(plan)s plan does not include the Microsoft Entra ID sync, "
                "so no sync was started."
            )
            % {"customer": connection.customer.name, "plan": connection.customer.get_plan_display()}
        )
    with transaction.atomic():
        AzureConnection.objects.select_for_update().filter(pk=connection.pk).first()
        existing = active_run_after_reaping(connection)
        if existing is not None:
            return Enqueued(run=existing, started=False)
        # Paused, or a mass change waits for a decision (docs/design.md §6.1). A preview writes nothing,
        # and the initial import (queued once, by the first mapping) was just previewed.
        writes = not dry_run and trigger != SyncRun.Trigger.INITIAL
        refusal = pause.sync_refusal(connection) if writes else None
        if refusal:
            raise SyncNotAllowed(refusal)
        run = SyncRun.queue(connection, trigger=trigger, dry_run=dry_run, requested_by=requested_by)
        transaction.on_commit(lambda: _hand_to_worker(run))
    return Enqueued(run=run, started=True)


def directory_read(*, connection: AzureConnection, requested_by: User | None) -> Enqueued:
    """Read the tenant into the mirror (a dry run) so its values can be mapped."""
    return run_enqueue(
        connection=connection, trigger=SyncRun.Trigger.INITIAL, requested_by=requested_by, dry_run=True
    )


def sync_now(*, connection: AzureConnection, requested_by: User | None) -> Enqueued:
    """The Sync now button (admin action, portal, management page)."""
    result = run_enqueue(connection=connection, trigger=SyncRun.Trigger.MANUAL, requested_by=requested_by)
    activity.sync_requested(result, actor=requested_by)
    return result


def reap_abandoned_runs(*, connection: AzureConnection | None = None) -> int:
    """Close runs whose worker vanished (killed mid-run, or never picked the task up).

    A running run is alive only while its connection's lease is held by a
    live process for that run; a queued run only until the task queue's
    retry window has passed. Called where runs are written: every dispatcher
    tick, and before a run of the connection is queued.
    """
    now = timezone.now()
    runs = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).select_related("connection")
    if connection is not None:
        runs = runs.filter(connection=connection)
    reaped = 0
    for run in runs:
        if run.status == SyncRun.Status.RUNNING and run.connection and not _holds_lease(run):
            reason = gettext_noop(
                "The worker running this sync stopped unexpectedly; the next run will pick up from here."
            )
        elif run.status == SyncRun.Status.QUEUED and run.created_at < now - QUEUED_RUN_TIMEOUT:
            reason = gettext_noop(
                "No worker picked this sync up in time. Is the task worker (qcluster) running?"
            )
        elif run.status == SyncRun.Status.QUEUED and _took_lease_and_vanished(run):
            reason = gettext_noop(
                "The worker that took this sync stopped before starting it; the next run will do it."
            )
        elif run.connection is None:
            reason = gettext_noop("The connection was disconnected.")
        else:
            continue
        reaped += run.abandon(reason)
    return reaped


def _took_lease_and_vanished(run: SyncRun) -> bool:
    """A worker leased the connection for this queued run, and its lease lapsed before it started."""
    connection = run.connection
    return (
        connection is not None
        and holder_run_id(connection.lease_holder) == run.pk
        and not is_leased(connection)
    )


def _holds_lease(run: SyncRun) -> bool:
    """The run's connection is leased, and not by another run (one that took over from a dead worker)."""
    connection = run.connection
    return (
        connection is not None
        and is_leased(connection)
        and holder_run_id(connection.lease_holder) in (None, run.pk)
    )


def _hand_to_worker(run: SyncRun, *, broker: object | None = None) -> None:
    """Queue the run's task; pass one `broker` when handing over many (django-q2 opens a
    new broker, with the Redis broker a new connection, for each task otherwise)."""
    from django_q.tasks import async_task

    async_task(
        "integrations.tasks.execute_run",
        run.pk,
        task_name=f"sync-run-{run.pk}",
        group="azure-sync",
        broker=broker,
    )
