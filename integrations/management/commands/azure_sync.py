"""`azure_sync CUSTOMER [--dry-run]` or `azure_sync --due`: run syncs now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import format_run, resolve_connection
from integrations.models import SyncRun
from integrations.services.pause import sync_refusal
from integrations.services.scheduling import due_connections
from integrations.sync.runner import run_sync


class Command(BaseCommand):
    help = "Sync one customer's Entra ID connection now (or every due connection) and print the counts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", nargs="?", help="Customer name or id")
        parser.add_argument("--dry-run", action="store_true", help="Plan only: show what would change")
        parser.add_argument("--due", action="store_true", help="Sync every connection whose next sync is due")

    def handle(self, *args, **options) -> None:
        if options["due"] == bool(options["customer"]):
            raise CommandError("Give either a CUSTOMER or --due.")
        connections = due_connections() if options["due"] else [resolve_connection(options["customer"])]
        if options["due"] and not connections:
            self.stdout.write("No connection is due.")
        failed = 0
        for connection in connections:
            self.stdout.write(f"{connection.customer} ({connection.tenant_name or connection.tenant_id}):")
            refusal = None if options["dry_run"] else sync_refusal(connection)
            if refusal:  # paused, or a held run waits for a decision (docs/design.md §6.1)
                self.stdout.write(f"  {refusal}")
                failed += 1
                continue
            run = run_sync(connection, trigger=SyncRun.Trigger.COMMAND, dry_run=options["dry_run"])
            self.stdout.write(format_run(run))
            if run.status == SyncRun.Status.HELD:
                self.stdout.write(f"  Decide with azure_approve {run.pk} or azure_reject {run.pk}.")
            failed += run.status == SyncRun.Status.FAILED
        if failed:
            raise CommandError(f"{failed} sync(s) failed or were refused.")
