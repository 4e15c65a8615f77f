"""A connection's policies (design.md §6.2): read, validated, changed and recorded with
their author in the activity log. The page, the admin and `azure_policy` call these."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from integrations.models import AzureConnection, Identity, Leavers
from integrations.sync.plan import SYNCED_FIELDS
from portal.activity import services as activity
from portal.customers.models import ContactPin

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_SCOPE_GROUPS = 20
OWNABLE_FIELDS = tuple(SYNCED_FIELDS)


class PolicyError(ValueError):
    """A policy value that cannot be saved; the message says why."""


@dataclass(frozen=True)
class Policy:
    """Every policy of a connection, as plain values (None brake: the global default)."""

    leavers: str = Leavers.KEEP
    identity: str = Identity.EMAIL
    scope_groups: tuple[str, ...] = ()
    licensed_only: bool = False
    portal_owned_fields: tuple[str, ...] = ()
    brake_percent: int | None = None

    def as_overrides(self) -> dict[str, object]:
        """What `plan_for_connection(policy=...)` previews (the brake does not change a plan)."""
        return {
            "leavers": self.leavers,
            "identity": self.identity,
            "scope_groups": list(self.scope_groups),
            "licensed_only": self.licensed_only,
            "portal_owned_fields": list(self.portal_owned_fields),
        }

    def as_record(self) -> dict[str, object]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def policy_of(connection: AzureConnection) -> Policy:
    return Policy(
        leavers=connection.leavers,
        identity=connection.identity,
        scope_groups=tuple(connection.scope_groups or ()),
        licensed_only=connection.licensed_only,
        portal_owned_fields=tuple(connection.portal_owned_fields or ()),
        brake_percent=connection.brake_percent,
    )


def policy_with(current: Policy, **changes: object) -> Policy:
    """`current` with `changes` applied and validated (None values mean "unchanged")."""
    # Values arrive untyped (form, command line) and are validated one by one below.
    given: dict[str, Any] = {name: value for name, value in changes.items() if value is not None}
    if "leavers" in given and given["leavers"] not in Leavers.values:
        raise PolicyError(_("Leavers must be “keep” or “deactivate”."))
    if "identity" in given and given["identity"] not in Identity.values:
        raise PolicyError(_("Identity must be “email” or “object”."))
    if "scope_groups" in given:
        given["scope_groups"] = _groups(given["scope_groups"])
    if "portal_owned_fields" in given:
        owned = tuple(dict.fromkeys(given["portal_owned_fields"]))
        unknown = [name for name in owned if name not in OWNABLE_FIELDS]
        if unknown:
            raise PolicyError(
                _("Unknown field(s): %(fields)s. Fields the portal can own: %(ownable)s.")
                % {"fields": ", ".join(unknown), "ownable": ", ".join(OWNABLE_FIELDS)}
            )
        given["portal_owned_fields"] = tuple(sorted(owned))
    if "brake_percent" in given:
        percent = given["brake_percent"]
        if not isinstance(percent, int) or not 1 <= percent <= 100:
            raise PolicyError(_("The brake must be a percentage between 1 and 100."))
    if "licensed_only" in given:
        given["licensed_only"] = bool(given["licensed_only"])
    return replace(current, **given)


def _groups(values: Iterable[object]) -> tuple[str, ...]:
    groups = tuple(dict.fromkeys(str(value).strip().lower() for value in values if str(value).strip()))
    bad = [group for group in groups if not GUID.match(group)]
    if bad:
        raise PolicyError(
            _("A group is given by its object id (a GUID such as 0f1e2d3c-…): %(bad)s")
            % {"bad": ", ".join(g[:60] for g in bad[:3])}
        )
    if len(groups) > MAX_SCOPE_GROUPS:
        raise PolicyError(_("At most %(n)d groups can define the scope.") % {"n": MAX_SCOPE_GROUPS})
    return groups


def needs_group_consent(policy: Policy) -> bool:
    """Group scope reads group memberships: the app needs GroupMember.Read.All, which
    a connection consented before groups were chosen may not have (a new consent)."""
    return bool(policy.scope_groups)


def policy_save(
    *, connection: AzureConnection, policy: Policy, actor: User | None
) -> dict[str, tuple[object, object]]:
    """Save `policy` and record each changed policy (old → new) with its author.

    Returns the changes by name; nothing is written or recorded when nothing changed.
    """
    with transaction.atomic():
        locked = AzureConnection.objects.select_for_update().get(pk=connection.pk)
        before = policy_of(locked)
        changes = {
            f.name: (_plain(getattr(before, f.name)), _plain(getattr(policy, f.name)))
            for f in fields(Policy)
            if getattr(before, f.name) != getattr(policy, f.name)
        }
        if not changes:
            return {}
        for name, (_old, new) in changes.items():
            setattr(locked, name, new)
        locked.save(update_fields=list(changes))
        activity.record(
            activity.Kind.POLICY_CHANGED,
            actor=actor,
            customer=locked.customer,
            target=locked.tenant_name or locked.tenant_id,
            old={name: old for name, (old, _new) in changes.items()},
            new={name: new for name, (_old, new) in changes.items()},
            details={"before": before.as_record(), "after": policy.as_record()},
        )
    for name, (_old, new) in changes.items():
        setattr(connection, name, new)
    return changes


def describe(policy: Policy) -> list[tuple[str, str]]:
    """The policy as (label, value) lines for `azure_policy --show` and the pages."""
    from django.conf import settings

    brake = policy.brake_percent if policy.brake_percent is not None else settings.AZURE_BRAKE_PERCENT
    return [
        (_("Leavers"), str(Leavers(policy.leavers).label)),
        (_("Identity"), str(Identity(policy.identity).label)),
        (
            _("Scope"),
            _("members of %(groups)s") % {"groups": ", ".join(policy.scope_groups)}
            if policy.scope_groups
            else _("all users"),
        ),
        (_("Licences"), _("licensed users only") if policy.licensed_only else _("licensed or not")),
        (_("Portal-owned fields"), ", ".join(policy.portal_owned_fields) or _("none (all synced)")),
        (
            _("Brake"),
            f"{brake}%" + ("" if policy.brake_percent is not None else " " + _("(default)")),
        ),
    ]


PINNABLE_FIELDS = tuple(name for name, _label in ContactPin.FIELDS)


def contact_pins_set(*, contact, fields: list[str], actor: User | None) -> tuple[set[str], set[str]]:
    """Pin exactly `fields` of `contact` (the sync leaves them); returns (added, removed),
    recorded in the activity log with the author when anything changed."""
    wanted = set(fields)
    unknown = wanted - set(PINNABLE_FIELDS)
    if unknown:
        raise PolicyError(_("Unknown field(s): %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    with transaction.atomic():
        current = set(ContactPin.objects.filter(contact=contact).values_list("field", flat=True))
        added, removed = wanted - current, current - wanted
        if not added and not removed:
            return added, removed
        ContactPin.objects.filter(contact=contact, field__in=removed).delete()
        user = actor if actor is not None and actor.is_authenticated else None
        ContactPin.objects.bulk_create(
            [ContactPin(contact=contact, field=f, pinned_by=user) for f in sorted(added)]
        )
        activity.record(
            activity.Kind.POLICY_CHANGED,
            actor=actor,
            customer=contact.customer,
            target=_("pinned fields of %(email)s") % {"email": contact.email},
            old=sorted(current),
            new=sorted(wanted),
            details={"contact_id": contact.pk, "added": sorted(added), "removed": sorted(removed)},
        )
    return added, removed
