"""`azure_resume CUSTOMER`: resume a paused connection's syncs (same as `azure_pause --resume`)."""

from __future__ import annotations

from integrations.management.commands.azure_pause import Command as PauseCommand


class Command(PauseCommand):
    help = "Resume a customer's paused syncs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")

    def handle(self, *args, **options) -> None:
        super().handle(*args, **{**options, "resume": True})
