"""`azure_undo RUN_ID`: undo a finished run now, in this process (docs/design.md §6.1)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import format_run, resolve_run
from integrations.models import SyncRun
from integrations.reasons import shown
from integrations.services.undo import UndoNotAllowed, execute_undo, undo_start


class Command(BaseCommand):
    help = (
        "Undo a run: put back every field it overwrote (where the contact still holds its value), delete the "
        "contacts it created that nothing changed since, and pause automatic syncs of the connection."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", help="The run to undo (see azure_runs)")

    def handle(self, *args, **options) -> None:
        run = resolve_run(options["run_id"])
        try:
            undo = undo_start(run=run, requested_by=None, hand_to_worker=False)
        except UndoNotAllowed as exc:
            raise CommandError(str(exc)) from exc
        undo = execute_undo(undo)
        report = undo.preview or {}
        self.stdout.write(format_run(undo))
        self.stdout.write(
            f"Undo of run #{run.pk}: {report.get('reverted_fields', 0)} fields put back on "
            f"{report.get('reverted_contacts', 0)} contacts, {report.get('deleted', 0)} created contacts deleted, "
            f"{report.get('recreated', 0)} re-created."
        )
        for conflict in report.get("conflicts", []):
            self.stdout.write(
                f"  conflict: {conflict['email']} {conflict['field']}: {shown(conflict['reason'])}"
            )
        for kept in report.get("kept", []):
            self.stdout.write(f"  kept: {kept['email']}: {shown(kept['why'])}")
        if undo.connection_id:  # always, unless disconnected meanwhile
            self.stdout.write(
                "Automatic syncs of this connection are paused: fix the directory or the mapping, then azure_resume."
            )
        if undo.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(f"The undo {undo.get_status_display().lower()}: {undo.error_text}")
