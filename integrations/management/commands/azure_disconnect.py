"""`azure_disconnect CUSTOMER`"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from integrations.cli import resolve_connection
from integrations.services.connections import connection_disconnect


class Command(BaseCommand):
    help = "Disconnect a customer from Entra ID; contacts and history stay."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")

    def handle(self, *args, **options) -> None:
        connection = resolve_connection(options["customer"])
        customer, tenant = connection.customer, connection.tenant_name or connection.tenant_id
        instructions = connection_disconnect(connection=connection, actor=None)
        self.stdout.write(f"Disconnected {customer.name} from {tenant}. Contacts and sync history were kept.")
        self.stdout.write(instructions)
