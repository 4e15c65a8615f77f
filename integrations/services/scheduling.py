"""When connections sync automatically (R12)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from integrations.lease import is_leased
from integrations.models import AzureConnection, Health, SiteMapping, SyncRun
from integrations.services import pause, runs


def due_queryset() -> QuerySet[AzureConnection]:
    """The "what is due" query of every dispatcher tick, oldest due first.

    Mapped is an EXISTS, not a join: a join with DISTINCT would sort every
    mapping row of every due connection (ten thousand tenants, several
    mappings each) on each tick. `next_sync_at` is indexed: with nothing due
    the query reads no connection row at all (docs/performance.md has the plan).
    """
    mapped = SiteMapping.objects.filter(connection=OuterRef("pk"))
    return pause.without_blocked(  # paused, or a run held for approval (docs/design.md §6.1)
        AzureConnection.objects.select_related("customer")
        .filter(next_sync_at__lte=timezone.now(), customer__plan__in=settings.AZURE_SYNC_PLANS)
        .filter(Exists(mapped))
        .exclude(health=Health.NEEDS_ATTENTION)
        .order_by("next_sync_at")
    )


def due_connections() -> list[AzureConnection]:
    """Mapped connections whose next sync time has passed, whose plan still includes the
    sync (R17), that need no person and that no live run holds (a dead worker's lease
    does not count)."""
    return [connection for connection in due_queryset() if not is_leased(connection)]


QUEUE_CHUNK = 1000  # connections locked and queued per transaction


def due_syncs_dispatch() -> list[SyncRun]:
    """The dispatcher's tick: close the runs whose worker died, then queue a run for every
    connection whose next sync is due. Reaping here (a write, every few minutes) is what ends
    a dead worker's run when nobody asks for a sync; pages only read."""
    runs.reap_abandoned_runs()
    return queue_scheduled_runs(due_connections(), runs._hand_to_worker)


def queue_scheduled_runs(
    connections: Sequence[AzureConnection], hand_to_worker: Callable[..., None]
) -> list[SyncRun]:
    """Queue one scheduled run for each of `connections` that has none queued or running.

    The same checks as `runs.run_enqueue`, under the same row locks, but a
    handful of queries per thousand connections instead of several per
    connection: a tick of ten thousand tenants stays well under a second when a
    share of them is due, and minutes never (see docs/performance.md). Paused and
    held connections were left out by `due_queryset`; they are checked again
    under the lock, as a pause may have come in between.
    """
    queued: list[SyncRun] = []
    for start in range(0, len(connections), QUEUE_CHUNK):
        chunk = connections[start : start + QUEUE_CHUNK]
        ids = [connection.pk for connection in chunk]
        with transaction.atomic():
            # Locked in key order (two ticks never deadlock); a Sync now on one of them waits.
            list(
                AzureConnection.objects.select_for_update()
                .filter(pk__in=ids)
                .order_by("pk")
                .values_list("pk")
            )
            busy = set(
                SyncRun.objects.filter(connection_id__in=ids, status__in=SyncRun.ACTIVE_STATUSES).values_list(
                    "connection_id", flat=True
                )
            )
            allowed = set(
                pause.without_blocked(AzureConnection.objects.filter(pk__in=ids)).values_list("pk", flat=True)
            )
            runs = SyncRun.objects.bulk_create(
                SyncRun(
                    customer_id=connection.customer_id,
                    connection=connection,
                    tenant_id=connection.tenant_id,
                    trigger=SyncRun.Trigger.SCHEDULED,
                )
                for connection in chunk
                if connection.pk in allowed and connection.pk not in busy
            )
            transaction.on_commit(partial(_hand_over, runs, hand_to_worker))
        queued.extend(runs)
    return queued


def _hand_over(runs: list[SyncRun], hand_to_worker: Callable[..., None]) -> None:
    """Hand the committed runs to the workers, in one transaction: with the ORM broker
    each task is a row, and one commit (one WAL flush) for the lot instead of one each
    is most of a large tick; with the Redis broker, one connection instead of one
    per task. A run whose task is lost is reaped as abandoned."""
    if not runs:
        return
    from django_q.brokers import get_broker

    broker = get_broker()  # one broker (one Redis connection) for the whole tick
    with transaction.atomic():
        for run in runs:
            hand_to_worker(run, broker=broker)


DISPATCH_SCHEDULE_NAME = "Entra ID: queue due syncs"
DISPATCH_EVERY_MINUTES = 5


def ensure_dispatch_schedule() -> None:
    """Create (or repair) the one django-q2 schedule that drives automatic syncs. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=DISPATCH_SCHEDULE_NAME,
        defaults={
            "func": "integrations.tasks.dispatch_due_syncs",
            "schedule_type": Schedule.MINUTES,
            "minutes": DISPATCH_EVERY_MINUTES,
            "repeats": -1,
        },
    )
