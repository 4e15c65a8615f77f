"""`azure_policy CUSTOMER [--show] [--leavers keep|deactivate] [--identity email|object] [--brake PERCENT]
[--scope-group GROUP_ID ...] [--licensed-only | --all-licences]`: a connection's policies (design.md §6.2)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations.cli import resolve_connection
from integrations.services import policies


class Command(BaseCommand):
    help = "Show or set the policies of a connection: leavers, identity, scope, portal-owned fields, brake."

    def add_arguments(self, parser) -> None:
        parser.add_argument("customer", help="Customer name or id")
        parser.add_argument("--show", action="store_true", help="Print the policies (also after a change)")
        parser.add_argument("--leavers", choices=["keep", "deactivate"])
        parser.add_argument("--identity", choices=["email", "object"])
        parser.add_argument(
            "--brake", type=int, metavar="PERCENT", help="Mass-change brake, 1-100 (see azure_brake)"
        )
        parser.add_argument(
            "--scope-group",
            nargs="+",
            metavar="GROUP_ID",
            help="Only members (transitive) of these Entra groups; give 'all' to sync everyone again",
        )
        licences = parser.add_mutually_exclusive_group()
        licences.add_argument("--licensed-only", action="store_true", help="Only users with a licence")
        licences.add_argument("--all-licences", action="store_true", help="Users with or without a licence")
        parser.add_argument(
            "--portal-owned",
            nargs="*",
            metavar="FIELD",
            help=f"Fields the sync never writes ({', '.join(policies.OWNABLE_FIELDS)}); none: all synced",
        )

    def handle(self, *args, **options) -> None:
        connection = resolve_connection(options["customer"])
        groups = options["scope_group"]
        if groups is not None and [g.lower() for g in groups] == ["all"]:
            groups = []
        licensed = True if options["licensed_only"] else False if options["all_licences"] else None
        try:
            policy = policies.policy_with(
                policies.policy_of(connection),
                leavers=options["leavers"],
                identity=options["identity"],
                brake_percent=options["brake"],
                scope_groups=groups,
                licensed_only=licensed,
                portal_owned_fields=options["portal_owned"],
            )
        except policies.PolicyError as exc:
            raise CommandError(str(exc)) from None
        changes = policies.policy_save(connection=connection, policy=policy, actor=None)
        for name, (old, new) in changes.items():
            self.stdout.write(f"{name}: {old} → {new}")
        if not changes and not options["show"]:
            self.stdout.write("Nothing changed.")
        if changes and policies.needs_group_consent(policy) and "scope_groups" in changes:
            self.stdout.write(
                "Group scope reads group memberships: the tenant's administrator must grant "
                "GroupMember.Read.All (a new consent) if it was not granted yet."
            )
        if options["show"] or not changes:
            self.stdout.write(f"Policies of {connection.customer.name}:")
            for label, value in policies.describe(policies.policy_of(connection)):
                self.stdout.write(f"  {label}: {value}")
