"""Every connection's health at a glance, sorted by urgency (the admin's health
page and the Customers changelist read it).

The categories are an ordered table: to add one (held runs, once runs can be
held), add a `Category` in the right place with its test and its fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from integrations.health import sync_interval
from integrations.models import AzureConnection, Health, PauseReason, SyncRun
from integrations.reasons import translated

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass
class ConnectionHealth:
    """One connection as the health page shows it."""

    connection: AzureConnection
    category: str = ""
    label: str = ""
    last_error: str = ""
    last_error_kind: str = ""
    held_runs: int = 0
    fix: str = ""
    rank: int = 0

    @property
    def customer(self):
        return self.connection.customer

    @property
    def last_success(self) -> datetime | None:
        return self.connection.last_sync_at


@dataclass(frozen=True)
class Category:
    key: str
    label: StrOrPromise
    applies: Callable[[ConnectionHealth, datetime], bool]
    fix: Callable[[ConnectionHealth], str] = field(default=lambda row: "")


def is_stale(row: ConnectionHealth, now: datetime) -> bool:
    """No success for twice the sync interval (or never, that long after connecting)."""
    since = row.connection.last_sync_at or row.connection.connected_at
    return since < now - 2 * sync_interval()


def attention_fix(row: ConnectionHealth) -> str:
    return _(attention_fix_message(row))


def attention_fix_message(row: ConnectionHealth) -> str:
    """`attention_fix` as its message id: an alert e-mail puts it in its own language when sent."""
    if row.last_error_kind == "app_credentials":
        return gettext_noop(
            "Renew the portal's app credential (AZURE_CLIENT_SECRET or certificate), then click Sync now."
        )
    if row.last_error_kind == "tenant_not_found":
        return gettext_noop("Disconnect, then connect the customer's right tenant with Import from Azure AD.")
    return gettext_noop(
        "Consent was revoked: ask the customer's Global Administrator to reconnect with Import from Azure AD "
        "(the mapping is kept), then syncs resume."
    )


def _stale_fix(row: ConnectionHealth) -> str:
    if not row.connection.mappings.all():  # prefetched
        return _("Finish the site mapping: the first import starts when one value is mapped.")
    return _("Check that the task worker (qcluster) is running, then click Sync now.")


def _paused_fix(row: ConnectionHealth) -> str:
    if row.connection.pause_reason == PauseReason.UNDO:
        return _("Syncs are paused after an undo: fix the directory or the mapping, then click Resume.")
    if row.connection.pause_reason == PauseReason.REJECTED:
        return _("Syncs are paused after a rejected run: fix the cause, then click Resume.")
    return _("Syncs were paused by hand: click Resume when they should run again.")


CATEGORIES: tuple[Category, ...] = (
    Category(
        "needs_attention",
        gettext_lazy("Needs attention"),
        lambda row, now: row.connection.health == Health.NEEDS_ATTENTION,
        attention_fix,
    ),
    Category(
        "quarantined",
        gettext_lazy("Quarantined"),
        lambda row, now: row.connection.health == Health.QUARANTINED,
        lambda row: _(
            "Read the last error and the failed runs, fix the cause, then click Sync now (it retries once a day)."
        ),
    ),
    Category(
        "backing_off",
        gettext_lazy("Failing, retrying"),
        lambda row, now: row.connection.health == Health.BACKING_OFF,
        lambda row: _(
            "Nothing yet: it retries by itself. If it keeps failing it is quarantined; read the failed runs."
        ),
    ),
    Category(
        "held",
        gettext_lazy("Held runs"),
        lambda row, now: row.held_runs > 0,
        lambda row: _("Review the held changes and approve or reject them."),
    ),
    Category(
        "paused",
        gettext_lazy("Paused"),
        lambda row, now: row.connection.paused_at is not None,
        _paused_fix,
    ),
    Category(
        "stale",
        gettext_lazy("Stale"),
        is_stale,
        _stale_fix,
    ),
    Category("healthy", gettext_lazy("Healthy"), lambda row, now: True, lambda row: _("Nothing to do.")),
)
CATEGORY_LABELS = {category.key: category.label for category in CATEGORIES}


def connection_health(*, now: datetime | None = None) -> list[ConnectionHealth]:
    """Every connection, most urgent first (then by customer name); three queries."""
    now = now or timezone.now()
    last_failed = SyncRun.objects.filter(
        connection=OuterRef("pk"), status=SyncRun.Status.FAILED, dry_run=False
    ).order_by("-created_at", "-id")
    connections = AzureConnection.objects.select_related("customer").annotate(
        last_error=Subquery(last_failed.values("error")[:1]),
        last_error_kind=Subquery(last_failed.values("error_kind")[:1]),
        # Held runs still waiting for a decision (an approved or rejected one stays "held").
        held_runs=Count("runs", filter=Q(runs__status=SyncRun.Status.HELD, runs__decision="")),
    )
    rows = []
    for connection in connections.prefetch_related("mappings"):
        row = ConnectionHealth(
            connection=connection,
            last_error=connection.health_reason_text or translated(connection.last_error or ""),
            last_error_kind=connection.last_error_kind or "",
            held_runs=connection.held_runs or 0,
        )
        for rank, category in enumerate(CATEGORIES):
            if category.applies(row, now):
                row.category, row.label, row.rank, row.fix = (
                    category.key,
                    str(category.label),
                    rank,
                    category.fix(row),
                )
                break
        rows.append(row)
    return sorted(rows, key=lambda row: (row.rank, row.connection.customer.name.lower()))


def counts(rows: list[ConnectionHealth]) -> list[tuple[str, str, int]]:
    """(key, label, number of connections) per category, in urgency order."""
    return [(c.key, str(c.label), sum(1 for row in rows if row.category == c.key)) for c in CATEGORIES]


def stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - 2 * sync_interval()
