"""`azure_brake CUSTOMER [--percent P] [--minimum N] [--default]`: the connection's mass-change brake."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import resolve_connection
from integrations.policies.brake import threshold_for


class Command(BaseCommand):
    help = (
        "Show or set the mass-change brake of a connection: a sync overwriting fields of more than PERCENT % "
        "of the synced contacts, and of at least MINIMUM contacts, is held for approval (100 turns it off)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")
        parser.add_argument("--percent", type=int, help="1-100 (100: never hold)")
        parser.add_argument("--minimum", type=int, help="At least this many contacts (0 or more)")
        parser.add_argument("--default", action="store_true", help="Back to the global defaults")

    def handle(self, *args, **options) -> None:
        connection = resolve_connection(options["customer"])
        percent, minimum = options["percent"], options["minimum"]
        if options["default"] and (percent is not None or minimum is not None):
            raise CommandError("Give --default alone, or --percent/--minimum.")
        if percent is not None and not 1 <= percent <= 100:
            raise CommandError("--percent must be between 1 and 100.")
        if minimum is not None and minimum < 0:
            raise CommandError("--minimum must be 0 or more.")
        if options["default"]:
            connection.brake_percent = connection.brake_minimum = None
            connection.save(update_fields=["brake_percent", "brake_minimum"])
        elif percent is not None or minimum is not None:
            if percent is not None:
                connection.brake_percent = percent
            if minimum is not None:
                connection.brake_minimum = minimum
            connection.save(update_fields=["brake_percent", "brake_minimum"])
        threshold = threshold_for(connection)
        source = "default" if connection.brake_percent is None and connection.brake_minimum is None else "own"
        self.stdout.write(
            f"Brake of {connection.customer.name} ({source}): hold a sync overwriting fields of more than "
            f"{threshold.percent}% of the synced contacts and of at least {threshold.minimum}."
        )
