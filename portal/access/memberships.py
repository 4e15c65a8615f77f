"""Who may grant which membership (closing the escalation of issue 12).

Granting, changing or removing a customer-administrator membership gives or
takes that customer's integration rights, so it needs what those rights
need: the integration permission (`integrations.manage_azure`), superuser,
or being that customer's administrator already. Nobody changes their own
membership. Every change is written to the admin history (LogEntry) and
the activity log.
"""

from __future__ import annotations

import json

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext as _

from integrations.permissions import is_integration_staff
from portal.activity.services import Kind, record
from portal.customers.models import Customer, Membership
from portal.users import RequestUser


class MembershipNotAllowed(Exception):
    """The actor may not make this membership change; the message says why."""


def can_grant_admin(actor: RequestUser | None, customer: Customer | None) -> bool:
    """`customer` None (or not saved yet): only the permission or superuser will do."""
    if actor is None or not (actor.is_authenticated and actor.is_active):
        return False
    if actor.is_superuser or is_integration_staff(actor):
        return True
    if customer is None or customer.pk is None:
        return False
    return Membership.objects.filter(user=actor, customer=customer, role=Membership.Role.ADMIN).exists()


def check_change(
    actor: RequestUser,
    *,
    user_id: int | None,
    customer: Customer | None,
    old_role: str | None,
    new_role: str | None,
) -> None:
    """Raise MembershipNotAllowed unless `actor` may move `user_id` from `old_role` to `new_role`
    (None: no membership) in `customer`."""
    if user_id is not None and user_id == actor.pk:
        raise MembershipNotAllowed(_("You cannot add, change or remove your own membership."))
    admin_involved = Membership.Role.ADMIN in (old_role, new_role)
    if admin_involved and not can_grant_admin(actor, customer):
        raise MembershipNotAllowed(
            _(
                "Granting or changing a customer-administrator membership needs the Entra ID "
                "integration permission (or superuser)."
            )
        )


def log_change(
    actor: User | None,
    membership: Membership,
    *,
    old_role: str | None,
    new_role: str | None,
    via: str = "",
    admin_history: bool = True,
    object_id: int | None = None,
) -> None:
    """The admin history entry (unless the admin view writes its own) and the
    activity record of one membership change."""
    if old_role is None:
        flag, kind = ADDITION, Kind.MEMBERSHIP_ADDED
    elif new_role is None:
        flag, kind = DELETION, Kind.MEMBERSHIP_REMOVED
    else:
        flag, kind = CHANGE, Kind.MEMBERSHIP_CHANGED
    if admin_history and actor is not None and actor.is_authenticated:
        messages = {ADDITION: [{"added": {}}], CHANGE: [{"changed": {"fields": ["Role"]}}], DELETION: ""}
        LogEntry.objects.create(
            user_id=actor.pk,
            content_type_id=ContentType.objects.get_for_model(Membership).pk,
            object_id=str(object_id or membership.pk),
            object_repr=str(membership)[:200],
            action_flag=flag,
            change_message=json.dumps(messages[flag]) if messages[flag] else "",
        )
    record(
        kind,
        actor=actor,
        customer=membership.customer,
        target=membership.user.get_username(),
        old=old_role or "",
        new=new_role or "",
        details={"user_id": membership.user_id, **({"via": via} if via else {})},
    )


def membership_grant(
    *,
    actor: User | None,
    user,
    customer: Customer,
    role: str,
    via: str = "",
    checked: bool = True,
) -> Membership:
    """Give `user` `role` in `customer` (or change their role), after the checks above."""
    existing = Membership.objects.filter(user=user, customer=customer).first()
    old_role = existing.role if existing else None
    if checked and actor is not None:
        check_change(actor, user_id=user.pk, customer=customer, old_role=old_role, new_role=role)
    if existing is not None and existing.role == role:
        return existing
    membership, _created = Membership.objects.update_or_create(
        user=user, customer=customer, defaults={"role": role}
    )
    log_change(actor, membership, old_role=old_role, new_role=role, via=via)
    return membership


def log_formset(actor: User, formset, before: dict[int, tuple[int, str]]) -> None:
    """Memberships saved through an inline (the Customer page): history and activity for each.

    `before` maps each existing form's position to (membership id, role) as it was.
    """
    for membership in formset.new_objects:
        log_change(actor, membership, old_role=None, new_role=membership.role)
    for membership, _fields in formset.changed_objects:
        old = next((role for pk, role in before.values() if pk == membership.pk), None)
        log_change(actor, membership, old_role=old, new_role=membership.role)
    deleted = [form for form in formset.initial_forms if form.instance in formset.deleted_objects]
    for form in deleted:
        pk, role = before[id(form)]
        log_change(actor, form.instance, old_role=role, new_role=None, object_id=pk)
