"""What a plan's policies do (design.md §6.2), as JSON-safe counts and samples for a
run's page, its preview and the policy page's preview."""

from __future__ import annotations

from typing import Any

from integrations.sync.plan import ACTIVE_FIELD, EMAIL_FIELD, SyncPlan

SAMPLE_SIZE = 20


def policy_summary(plan: SyncPlan, *, sample_size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """Deactivations, reactivations and followed renames, plus the pinned fields' divergences."""
    renames = [
        {"email": change.old, "new": change.new}
        for update in plan.updates
        for change in update.changes
        if change.field == EMAIL_FIELD
    ]
    deactivated = [
        update.email
        for update in plan.updates
        for change in update.changes
        if change.field == ACTIVE_FIELD and change.new == "False"
    ]
    return {
        "deactivated": len(deactivated),
        "reactivated": plan.reactivated,
        "sample_deactivated": deactivated[:sample_size],
        "renamed": len(renames),
        "sample_renamed": renames[:sample_size],
        "email_conflicts": plan.email_conflicts[:sample_size],
        "divergences": {
            "count": len(plan.divergences),
            "sample": [
                {"email": d.email, "field": d.field, "local": d.local, "directory": d.directory}
                for d in plan.divergences[:sample_size]
            ],
        },
    }


def has_effect(summary: dict[str, Any]) -> bool:
    return bool(
        summary.get("deactivated")
        or summary.get("reactivated")
        or summary.get("renamed")
        or summary.get("email_conflicts")
        or (summary.get("divergences") or {}).get("count")
    )
