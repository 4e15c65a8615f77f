"""`azure_connect CUSTOMER --tenant TENANT_ID [--attribute officeLocation|department]`"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import resolve_customer
from integrations.graph.errors import MicrosoftError
from integrations.models import MappingAttribute
from integrations.services.connections import (
    ConnectError,
    connection_connect,
    read_tenant_name,
    verify_tenant_access,
)
from portal.activity import services as activity


class Command(BaseCommand):
    help = "Connect a customer to an Entra ID tenant whose administrator already granted admin consent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")
        parser.add_argument("--tenant", required=True, help="The tenant id (GUID) or its primary domain")
        parser.add_argument(
            "--attribute",
            choices=MappingAttribute.values,
            default=MappingAttribute.OFFICE,
            help="The attribute that places users in sites (default officeLocation)",
        )

    def handle(self, *args, **options) -> None:
        customer = resolve_customer(options["customer"])
        if not customer.azure_sync_available:
            raise CommandError(
                f"{customer.name}'s plan ({customer.get_plan_display()}) does not include the sync."
            )
        try:
            token = verify_tenant_access(options["tenant"], attempts=2)
            tenant_name = read_tenant_name(token.tenant_id)
            connection = connection_connect(
                customer=customer,
                tenant_id=token.tenant_id,
                tenant_name=tenant_name,
                attribute=options["attribute"],
            )
        except (ConnectError, MicrosoftError) as exc:
            raise CommandError(str(exc)) from exc
        activity.connection_connected(connection, actor=None)
        self.stdout.write(
            f"Connected {customer.name} to {connection.tenant_name or connection.tenant_id} "
            f"({connection.tenant_id}), placing users by {connection.mapping_attribute}.\n"
            f"Next: map values to sites with `manage.py azure_map {customer.pk} --list`."
        )
