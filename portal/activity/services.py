"""Writing the activity log. Features call `record` (or one of the helpers
below) with one line, after the thing they record has happened."""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.contrib.auth.models import User

from portal.activity.models import Activity
from portal.customers.models import Customer

Kind = Activity.Kind


def record(
    kind: str,
    *,
    actor: User | None,
    customer: Customer | None,
    target: str = "",
    old: object = "",
    new: object = "",
    details: Mapping[str, object] | None = None,
) -> Activity:
    """Append one record. `actor` None (or anonymous) means the system or a command.

    Other features (policy changes, undo, approve/reject) call this with their
    own `kind` from `Activity.Kind`.
    """
    user = actor if actor is not None and actor.is_authenticated else None
    return Activity.objects.create(
        kind=kind,
        actor=user,
        actor_name=user.get_username() if user else "",
        customer=customer,
        customer_name=customer.name if customer else "",
        target=str(target)[:300],
        old_value=_text(old),
        new_value=_text(new),
        details=dict(details or {}),
    )


def _text(value: object) -> str:
    if value in ("", None):
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# -- the integration's events (one-line hooks) ---------------------------------
def connection_connected(connection, *, actor: User | None) -> Activity:
    return record(
        Kind.CONNECTED,
        actor=actor,
        customer=connection.customer,
        target=connection.tenant_name or connection.tenant_id,
        new=connection.tenant_id,
        details={"tenant_id": connection.tenant_id, "tenant_name": connection.tenant_name},
    )


def connection_disconnected(connection, *, actor: User | None) -> Activity:
    return record(
        Kind.DISCONNECTED,
        actor=actor,
        customer=connection.customer,
        target=connection.tenant_name or connection.tenant_id,
        old=connection.tenant_id,
        details={"tenant_id": connection.tenant_id, "tenant_name": connection.tenant_name},
    )


def mapping_snapshot(connection) -> dict[str, object]:
    """The mapping as words (attribute, value → site name), to compare before and after a save."""
    return {
        "attribute": connection.mapping_attribute,
        "sites": {m.value: m.site.name for m in connection.mappings.select_related("site").order_by("value")},
    }


def mapping_changed(connection, before: dict[str, object], *, actor: User | None) -> Activity | None:
    """Record the mapping's old → new, if it changed at all."""
    connection.refresh_from_db(fields=["mapping_attribute"])
    after = mapping_snapshot(connection)
    if after == before:
        return None
    return record(
        Kind.MAPPING_CHANGED,
        actor=actor,
        customer=connection.customer,
        target=connection.tenant_name or connection.tenant_id,
        old=_mapping_words(before),
        new=_mapping_words(after),
        details={"before": before, "after": after},
    )


def _mapping_words(snapshot: dict) -> str:
    pairs = "; ".join(f"{value} → {site}" for value, site in snapshot["sites"].items())
    return f"{snapshot['attribute']}: {pairs or '—'}"


def sync_requested(enqueued, *, actor: User | None) -> Activity | None:
    """Sync now: recorded when a run was really started (not when one was already queued)."""
    if not enqueued.started:
        return None
    run = enqueued.run
    return record(
        Kind.SYNC_REQUESTED,
        actor=actor,
        customer=run.customer,
        target=f"run #{run.pk}",
        details={"run_id": run.pk, "trigger": run.trigger},
    )
