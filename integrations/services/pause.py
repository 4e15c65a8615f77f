"""Pausing and resuming a connection's syncs (docs/design.md §6.1).

A paused connection is skipped by the scheduler, and Sync now is refused
with a message until someone resumes it: a pause after a rejected mass change
or an undo exists precisely so that the directory's values are not written
again before the directory or the mapping is fixed, and a click on Sync now
would do just that. Resume is the one explicit "go ahead". A preview (dry
run) writes nothing and stays allowed, so the mapping can be fixed and checked
while paused. The state lives in the connection's row: a restart loses nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext

from integrations import selectors
from integrations.models import AzureConnection, PauseReason


def without_blocked(connections: QuerySet[AzureConnection]) -> QuerySet[AzureConnection]:
    """Leave out paused connections and those with a run held for approval (the scheduler's filter)."""
    held = selectors.pending_held_runs().filter(connection=OuterRef("pk"))
    return connections.filter(paused_at__isnull=True).exclude(Exists(held))


def sync_refusal(connection: AzureConnection) -> str | None:
    """Why a writing sync may not start now, or None."""
    if selectors.held_run(connection=connection) is not None:
        return gettext(
            "A sync of %(customer)s is held for approval (a mass change): approve or reject it first."
        ) % {"customer": connection.customer.name}
    if connection.is_paused:
        return gettext("Syncs of %(customer)s are paused (%(reason)s): resume them first.") % {
            "customer": connection.customer.name,
            "reason": connection.get_pause_reason_display(),
        }
    return None


def banner(connection: AzureConnection) -> str:
    """The sentence the management page shows for a paused connection."""
    if connection.pause_reason == PauseReason.UNDO:
        return gettext("Syncs paused after an undo: fix the directory or the mapping, then resume.")
    if connection.pause_reason == PauseReason.REJECTED:
        return gettext(
            "Syncs paused after a held mass change was rejected: fix the directory or the mapping, then resume. "
            "The next sync will plan against the directory as it is then."
        )
    return gettext("Syncs are paused by an administrator: no automatic sync and no Sync now until resumed.")


def connection_pause(*, connection: AzureConnection, by: User | None = None) -> bool:
    """Pause by hand; False if it was already paused."""
    if connection.is_paused:
        return False
    return connection.pause(PauseReason.MANUAL, by=by)


def connection_resume(*, connection: AzureConnection) -> bool:
    """Resume; the next automatic sync comes at its usual time (or at once if overdue)."""
    return connection.resume()
