"""`azure_runs CUSTOMER [--json] [--limit N]`: the customer's runs with their ids, newest first."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import resolve_customer
from integrations.models import SyncRun

COUNTS = ("fetched", "created", "updated", "unchanged", "skipped", "fields_changed")


class Command(BaseCommand):
    help = "List a customer's sync runs: id, trigger, status and counts (newest first)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")
        parser.add_argument("--json", action="store_true", help="Machine-readable output")
        parser.add_argument("--limit", type=int, default=50, help="How many runs (default 50)")

    def handle(self, *args, **options) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        customer = resolve_customer(options["customer"])
        runs = list(
            SyncRun.objects.filter(customer=customer).order_by("-created_at", "-id")[: options["limit"]]
        )
        rows = [_row(run) for run in runs]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write(f"{customer.name} has no sync runs.")
            return
        for row in rows:
            extra = ""
            if row["undoes"]:
                extra = f" (undoes #{row['undoes']})"
            elif row["approves"]:
                extra = f" (approves #{row['approves']})"
            elif row["decision"]:
                extra = f" ({row['decision']})"
            counts = ", ".join(f"{name.replace('_', ' ')} {row[name]}" for name in COUNTS)
            self.stdout.write(
                f"#{row['id']}  {row['created_at'][:16]}  {row['trigger']}{' (dry run)' if row['dry_run'] else ''}"
                f"  {row['status']}{extra}: {counts}"
            )


def _row(run: SyncRun) -> dict:
    return {
        "id": run.pk,
        "created_at": run.created_at.isoformat(),
        "trigger": run.trigger,
        "status": run.status,
        "dry_run": run.dry_run,
        "decision": run.decision,
        "undoes": run.undoes_id,
        "approves": run.approves_id,
        **{name: getattr(run, name) for name in COUNTS},
        "error": run.error_text,
    }
