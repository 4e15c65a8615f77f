"""Reads for the policies (design.md §6.2): what the directory says about pinned fields,
which scope groups no sync has read, and the plan under an unsaved policy. Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from integrations.models import AzureConnection, DirectoryUser, ScopeGroupMember
from integrations.sync.loaders import MIRROR_ATTRIBUTE
from integrations.sync.plan import SITE_FIELD, SYNCED_FIELDS
from integrations.values import value_key
from portal.customers.models import Contact, ContactPin

if TYPE_CHECKING:
    from integrations.services.policies import Policy

LABELS = dict(ContactPin.FIELDS)


def pinned_divergences(contacts: Iterable[Contact]) -> dict[int, list[dict[str, str]]]:
    """contact id → its pinned fields whose directory value differs ("directory says X").

    A handful of queries whatever the number of contacts (a page of a site, one contact).
    """
    linked = {contact.pk: contact for contact in contacts if contact.azure_object_id}
    if not linked:
        return {}
    pins: dict[int, list[str]] = {}
    for contact_id, field in ContactPin.objects.filter(contact_id__in=linked).values_list(
        "contact_id", "field"
    ):
        pins.setdefault(contact_id, []).append(field)
    if not pins:
        return {}
    customers = {linked[contact_id].customer_id for contact_id in pins}
    connections = {
        c.customer_id: c
        for c in AzureConnection.objects.filter(customer_id__in=customers).prefetch_related("mappings__site")
    }
    users: dict[tuple[int, str | None], DirectoryUser] = {
        (user.connection_id, user.object_id): user
        for user in DirectoryUser.objects.filter(
            connection__in=connections.values(),
            object_id__in={linked[contact_id].azure_object_id for contact_id in pins},
            removed=False,
        )
    }
    result: dict[int, list[dict[str, str]]] = {}
    for contact_id, fields in pins.items():
        contact = linked[contact_id]
        connection = connections.get(contact.customer_id)
        user = users.get((connection.pk, contact.azure_object_id)) if connection else None
        if connection is None or user is None:
            continue
        for field in sorted(fields):
            local, directory = _values(contact, user, connection, field)
            if local != directory:
                result.setdefault(contact_id, []).append(
                    {
                        "field": field,
                        "label": str(LABELS.get(field, field)),
                        "local": local,
                        "directory": directory,
                    }
                )
    return result


def _values(
    contact: Contact, user: DirectoryUser, connection: AzureConnection, field: str
) -> tuple[str, str]:
    if field == SITE_FIELD:
        raw = getattr(user, MIRROR_ATTRIBUTE[connection.mapping_attribute])
        sites = {m.value_key: m.site.name for m in connection.mappings.all()}
        return (contact.site.name if contact.site else ""), sites.get(value_key(raw), "")
    return getattr(contact, field), getattr(user, SYNCED_FIELDS[field])


def directory_values(contact: Contact) -> dict[str, str]:
    """What the mirror says for each synced field of the contact, its site included
    (empty when the contact has no directory user)."""
    connection = AzureConnection.objects.filter(customer_id=contact.customer_id).first()
    if connection is None or not contact.azure_object_id:
        return {}
    user = DirectoryUser.objects.filter(
        connection=connection, object_id=contact.azure_object_id, removed=False
    ).first()
    if user is None:
        return {}
    values = {name: getattr(user, attribute) for name, attribute in SYNCED_FIELDS.items()}
    raw = getattr(user, MIRROR_ATTRIBUTE[connection.mapping_attribute])
    site = connection.mappings.select_related("site").filter(value_key=value_key(raw)).first()
    values[SITE_FIELD] = site.site.name if site else ""
    return values


def unread_scope_groups(*, connection: AzureConnection, policy: Policy) -> list[str]:
    """Groups whose members no sync has read yet: a preview cannot count them."""
    read = set(
        ScopeGroupMember.objects.filter(connection=connection, group_id__in=policy.scope_groups)
        .values_list("group_id", flat=True)
        .distinct()
    )
    return [group for group in policy.scope_groups if group not in read]


def policy_preview(*, connection: AzureConnection, policy: Policy) -> dict:
    """What the next sync would do under `policy`, unsaved: the run's own plan, summarised."""
    from integrations.plan_summary import summarize_plan
    from integrations.sync.runner import plan_for_connection

    return summarize_plan(plan_for_connection(connection, policy=policy.as_overrides()))
