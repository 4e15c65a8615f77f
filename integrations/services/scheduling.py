"""When connections sync automatically (R12)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from integrations.models import AzureConnection, Health
from integrations.services import pause
from integrations.sync.lease import is_leased


def due_connections() -> list[AzureConnection]:
    """Mapped connections whose next sync time has passed, whose plan still includes the
    sync (R17), that need no person and that no live run holds (a dead worker's lease
    does not count)."""
    now = timezone.now()
    due = pause.without_blocked(  # paused, or a run held for approval (docs/design.md §6.1)
        AzureConnection.objects.select_related("customer")
        .filter(next_sync_at__lte=now, mappings__isnull=False, customer__plan__in=settings.AZURE_SYNC_PLANS)
        .exclude(health=Health.NEEDS_ATTENTION)
        .distinct()
        .order_by("next_sync_at")
    )
    return [connection for connection in due if not is_leased(connection)]


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
