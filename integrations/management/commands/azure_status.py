"""`azure_status [--json]`: every connection with its last and next sync and its health."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from integrations.selectors import connection_statuses


class Command(BaseCommand):
    help = "List Microsoft Entra ID connections: tenant, connected, last sync, outcome, next sync, health."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Machine-readable output")

    def handle(self, *args, **options) -> None:
        statuses = connection_statuses()
        if options["json"]:
            self.stdout.write(json.dumps([status.as_dict() for status in statuses], indent=2))
            return
        if not statuses:
            self.stdout.write("No customer is connected to Microsoft Entra ID.")
            return
        for status in statuses:
            self.stdout.write(
                f"{status.customer}  tenant {status.tenant_name or '-'} ({status.tenant_id})\n"
                f"  connected {_when(status.connected_at)}; last sync {_when(status.last_sync_at)} "
                f"({status.last_outcome or 'never ran'}); next sync {_when(status.next_sync_at)}\n"
                f"  health: {status.health}{' - ' + status.health_reason if status.health_reason else ''}"
                + (f"\n  paused: {status.paused} (resume with azure_resume)" if status.paused else "")
            )


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z") if moment else "-"
