"""The mass-change brake (docs/design.md §6.1): a run whose plan would overwrite fields
of too many synced contacts is held for a person to approve, before it writes.

Microsoft's own provisioning service has the same idea (an accidental-deletions
threshold that stops the job); here it covers overwritten fields and site moves.
Creates never count: new contacts overwrite nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from integrations import alerts
from integrations.models import AzureConnection, SyncRun
from integrations.sync.plan import SyncPlan


@dataclass(frozen=True)
class Threshold:
    percent: int
    minimum: int

    def exceeded_by(self, affected: int, synced: int) -> bool:
        """More than `percent` % of the synced contacts, and at least `minimum` of them."""
        return affected >= self.minimum and affected * 100 > self.percent * synced


@dataclass(frozen=True)
class Verdict:
    hold: bool
    affected: int  # contacts with at least one overwritten field or a new site
    synced: int  # contacts the directory matches (updated or unchanged)
    threshold: Threshold

    @property
    def share(self) -> float:
        return 100 * self.affected / self.synced if self.synced else 0.0


def threshold_for(connection: AzureConnection) -> Threshold:
    """The connection's own values, else the global defaults from the settings."""
    percent = connection.brake_percent
    minimum = connection.brake_minimum
    return Threshold(
        percent=settings.AZURE_BRAKE_PERCENT if percent is None else percent,
        minimum=settings.AZURE_BRAKE_MINIMUM if minimum is None else minimum,
    )


def applies_to(run: SyncRun) -> bool:
    """Every writing run except the initial import (previewed already) and an approval (decided)."""
    return not run.dry_run and run.trigger != SyncRun.Trigger.INITIAL and run.approves_id is None


def judge(connection: AzureConnection, plan: SyncPlan) -> Verdict:
    threshold = threshold_for(connection)
    affected = plan.updated
    synced = len(plan.updates) + plan.unchanged
    return Verdict(
        hold=threshold.exceeded_by(affected, synced), affected=affected, synced=synced, threshold=threshold
    )


HOLD_REASON = gettext_noop(
    "Held by the mass-change brake: this run would overwrite fields of %(affected)d of %(synced)d "
    "synced contacts (%(share).0f%%; the limit is %(percent)d%% and at least %(minimum)d contacts). "
    "Nothing was written. An administrator can approve or reject it."
)
PLAN_CHANGED_REASON = gettext_noop(
    "Not applied: the plan changed since it was approved (%(then)d contacts to update then, "
    "%(now)d now). Review the new plan and approve or reject it again."
)


def hold_reason(verdict: Verdict) -> tuple[str, dict[str, Any]]:
    """Why the brake held a run: the message id and its values (shown in each reader's language)."""
    return HOLD_REASON, {
        "affected": verdict.affected,
        "synced": verdict.synced,
        "share": verdict.share,
        "percent": verdict.threshold.percent,
        "minimum": verdict.threshold.minimum,
    }


def differs_a_lot(held_preview: dict[str, Any], plan: SyncPlan) -> bool:
    """Whether the plan an approval is about to apply is no longer the one a person saw.

    Compared by counts (the held preview keeps counts and a sample, not every
    change): more than a tenth and more than 10 contacts apart.
    """
    then = int(held_preview.get("update", 0))
    now = plan.updated
    return abs(now - then) > max(10, then // 10)


def stop_before_apply(connection: AzureConnection, run: SyncRun, plan: SyncPlan) -> bool:
    """Hold `run` (True) when the brake applies and trips, or when an approval's plan
    is no longer the one that was approved: either way nothing is written."""
    from integrations.plan_summary import summarize_plan

    if run.approves_id is not None:
        held = SyncRun.objects.filter(pk=run.approves_id).values_list("preview", flat=True).first() or {}
        if not differs_a_lot(held, plan):
            return False
        changed = {"then": int(held.get("update", 0)), "now": plan.updated}
        if run.hold(summarize_plan(plan), PLAN_CHANGED_REASON, changed):
            alerts.run_held(run)
        return True
    if not applies_to(run):
        return False
    verdict = judge(connection, plan)
    if not verdict.hold:
        return False
    # True even if the run stopped running meanwhile (reaped): it must write nothing either way.
    if run.hold(summarize_plan(plan), *hold_reason(verdict)):
        alerts.run_held(run)
    return True
