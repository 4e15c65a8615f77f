"""`azure_pause CUSTOMER [--resume]`: pause (or resume) a connection's syncs."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from integrations.cli import resolve_connection
from integrations.services.pause import connection_pause, connection_resume


class Command(BaseCommand):
    help = "Pause a customer's automatic syncs and Sync now until resumed (--resume resumes)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")
        parser.add_argument("--resume", action="store_true", help="Resume instead")

    def handle(self, *args, **options) -> None:
        connection = resolve_connection(options["customer"])
        name = connection.customer.name
        if options["resume"]:
            done = connection_resume(connection=connection)
            self.stdout.write(f"Syncs of {name} resumed." if done else f"Syncs of {name} were not paused.")
            return
        done = connection_pause(connection=connection)
        self.stdout.write(f"Syncs of {name} paused." if done else f"Syncs of {name} were already paused.")
