"""Reads for the policies (design.md §6.2): what the directory says about pinned fields."""

from __future__ import annotations

from collections.abc import Iterable

from integrations.models import AzureConnection, DirectoryUser
from integrations.sync.loaders import MIRROR_ATTRIBUTE
from integrations.sync.plan import SITE_FIELD, SYNCED_FIELDS
from integrations.values import value_key
from portal.customers.models import Contact, ContactPin

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
