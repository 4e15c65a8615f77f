"""`azure_reject RUN_ID`: reject a run the mass-change brake held; the connection pauses."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import resolve_run
from integrations.services.held_runs import DecisionNotAllowed, run_reject


class Command(BaseCommand):
    help = "Reject a held run: nothing is written and automatic syncs pause until azure_resume."

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", help="The held run (see azure_runs)")

    def handle(self, *args, **options) -> None:
        held = resolve_run(options["run_id"])
        try:
            connection = run_reject(run=held, by=None)
        except DecisionNotAllowed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Run #{held.pk} rejected: nothing was written. Syncs of {connection.customer.name} are paused; "
            "fix the directory or the mapping, then azure_resume."
        )
