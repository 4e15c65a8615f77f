"""A readable summary of a plan: what a dry run or the mapping preview shows."""

from __future__ import annotations

from itertools import islice
from typing import Any

from integrations.policies.summary import policy_summary
from integrations.sync.plan import SkipReason, SyncPlan

SAMPLE_SIZE = 20


def summarize_plan(plan: SyncPlan, *, sample_size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """Counts plus a small sample of creates and per-field old → new values (JSON-safe)."""
    return {
        "create": len(plan.creates),
        "update": plan.updated,
        "unchanged": plan.unchanged + (len(plan.updates) - plan.updated),
        "skipped": plan.skipped,
        "skipped_by_reason": {
            reason: {"count": count, "label": str(SkipReason.LABELS.get(reason, reason))}
            for reason, count in sorted(plan.skips.items())
        },
        "sample_creates": [
            {"email": create.email, "name": f"{create.first_name} {create.last_name}".strip()}
            for create in plan.creates[:sample_size]
        ],
        "sample_changes": list(
            islice(
                (
                    {"email": update.email, "field": change.field, "old": change.old, "new": change.new}
                    for update in plan.updates
                    for change in update.changes
                ),
                sample_size,
            )
        ),
        "policy": policy_summary(plan, sample_size=sample_size),
    }
