"""Reads of the integration for pages, commands and the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from integrations.models import AzureConnection, SyncRun


@dataclass(frozen=True)
class ConnectionStatus:
    customer: str
    customer_id: int
    tenant_id: str
    tenant_name: str
    connected_at: datetime
    last_sync_at: datetime | None
    last_outcome: str | None
    next_sync_at: datetime | None
    health: str
    health_reason: str
    consecutive_failures: int
    paused: str  # why automatic syncs are paused (docs/design.md §6.1); empty when they run

    def as_dict(self) -> dict:
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }


def active_run(*, connection: AzureConnection) -> SyncRun | None:
    """The run queued or running for the connection, if any.

    A pure read: a run whose worker died still shows here until it is reaped
    (`services.runs.reap_abandoned_runs`, called by the services that start runs).
    """
    return (
        SyncRun.objects.filter(connection=connection, status__in=SyncRun.ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )


def pending_held_runs() -> QuerySet[SyncRun]:
    """Runs held for approval (a mass change, docs/design.md §6.1) and not decided yet."""
    return SyncRun.objects.filter(status=SyncRun.Status.HELD, decision=SyncRun.Decision.PENDING)


def held_run(*, connection: AzureConnection) -> SyncRun | None:
    """The run of `connection` waiting for approval, if any."""
    return pending_held_runs().filter(connection=connection).order_by("-created_at").first()


def connection_statuses() -> list[ConnectionStatus]:
    """One status per connection, the last finished run's outcome included (one query)."""
    last_outcome = (
        SyncRun.objects.filter(connection=OuterRef("pk"), dry_run=False)
        .exclude(status__in=SyncRun.ACTIVE_STATUSES)
        .order_by("-created_at", "-id")
        .values("status")[:1]
    )
    connections = (
        AzureConnection.objects.select_related("customer")
        .annotate(last_outcome=Subquery(last_outcome))
        .order_by("customer__name")
    )
    return [
        ConnectionStatus(
            customer=connection.customer.name,
            customer_id=connection.customer_id,
            tenant_id=connection.tenant_id,
            tenant_name=connection.tenant_name,
            connected_at=connection.connected_at,
            last_sync_at=connection.last_sync_at,
            last_outcome=connection.last_outcome,
            next_sync_at=connection.next_sync_at,
            health=connection.health,
            health_reason=connection.health_reason_text,
            consecutive_failures=connection.consecutive_failures,
            paused=connection.pause_reason if connection.is_paused else "",
        )
        for connection in connections
    ]
