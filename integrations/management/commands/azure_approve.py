"""`azure_approve RUN_ID`: approve a run the mass-change brake held, and apply it now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import format_run, resolve_run
from integrations.models import SyncRun
from integrations.services.held_runs import DecisionNotAllowed, run_approve
from integrations.sync.runner import run_sync


class Command(BaseCommand):
    help = "Approve a held run: re-plan against the current mirror and apply (unless the plan changed a lot)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", help="The held run (see azure_runs)")

    def handle(self, *args, **options) -> None:
        held = resolve_run(options["run_id"])
        try:
            approval = run_approve(run=held, by=None, hand_to_worker=False)
        except DecisionNotAllowed as exc:
            raise CommandError(str(exc)) from exc
        connection = approval.connection
        if connection is None:
            raise CommandError(f"Run #{held.pk}: the connection was disconnected.")
        approval = run_sync(connection, trigger=approval.trigger, run=approval)
        self.stdout.write(f"Run #{held.pk} approved; applied by run #{approval.pk}.")
        self.stdout.write(format_run(approval))
        if approval.status == SyncRun.Status.HELD:
            raise CommandError(f"Run #{approval.pk} was held again: {approval.error_text}")
        if approval.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(f"Run #{approval.pk} {approval.get_status_display().lower()}.")
