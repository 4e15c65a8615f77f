"""`azure_map CUSTOMER --list | VALUE SITE [--create-site] | VALUE --unmap`"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations import mapping_selectors
from integrations.cli import resolve_connection
from integrations.models import DirectoryUser, SyncRun
from integrations.services import mapping
from integrations.sync.runner import run_sync
from portal.customers.models import Site


class Command(BaseCommand):
    help = "List the tenant's office/department values, or map one to a site of the customer."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")
        parser.add_argument("value", nargs="?", help="The officeLocation/department value to map")
        parser.add_argument("site", nargs="?", help="Site name or id of the same customer")
        parser.add_argument("--list", action="store_true", help="List the values with user counts")
        parser.add_argument("--create-site", action="store_true", help="Create SITE if it does not exist")
        parser.add_argument("--unmap", action="store_true", help="Remove the mapping of VALUE")

    def handle(self, *args, **options) -> None:
        connection = resolve_connection(options["customer"])
        if options["list"]:
            self._list(connection)
            return
        # A change from the command line goes to the activity log like one from the pages
        # (no actor: the command's user is not a portal user).
        with mapping.mapping_change_recorded(connection, actor=None):
            self._change(connection, options)

    def _change(self, connection, options) -> None:
        if options["value"] and options["unmap"]:
            if not mapping.mapping_remove(connection=connection, value=options["value"]):
                raise CommandError(f"{options['value']!r} is not mapped.")
            self.stdout.write(f"Unmapped {options['value']!r}; contacts already placed stay where they are.")
        elif options["value"] and options["site"]:
            self._map(connection, options["value"], options["site"], create=options["create_site"])
        else:
            raise CommandError("Give --list, VALUE SITE, or VALUE --unmap.")

    def _list(self, connection) -> None:
        if not DirectoryUser.objects.filter(connection=connection).exists():
            self.stdout.write("Reading the directory first…")
            run = run_sync(connection, trigger=SyncRun.Trigger.COMMAND, dry_run=True)
            if run.status != SyncRun.Status.SUCCEEDED:
                raise CommandError(
                    f"Could not read the directory: {run.error_text or run.get_status_display()}"
                )
        values = mapping_selectors.attribute_values(connection=connection)
        self.stdout.write(f"{connection.get_mapping_attribute_display()} values of {connection.customer}:")
        width = max((len(v.value) for v in values), default=5)
        for value in values:
            target = f"→ {value.site.name}" if value.site else "(not mapped)"
            users = f"{value.user_count} user{'s' if value.user_count != 1 else ''}"
            self.stdout.write(f"  {value.value:<{width}}  {users:>11}  {target}")
        if not values:
            self.stdout.write("  (no values found)")

    def _map(self, connection, value: str, site_reference: str, *, create: bool) -> None:
        sites = Site.objects.filter(customer=connection.customer)
        site = (
            sites.filter(pk=int(site_reference)).first() if site_reference.isdigit() else None
        ) or sites.filter(name__iexact=site_reference.strip()).first()
        if site is None and not create:
            raise CommandError(f"{connection.customer} has no site {site_reference!r} (add --create-site).")
        try:
            result = mapping.mapping_set(
                connection=connection, value=value, site=site, new_site_name=None if site else site_reference
            )
        except mapping.MappingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Mapped {result.value!r} → {result.site.name}.")
