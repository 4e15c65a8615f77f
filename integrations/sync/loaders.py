"""Reads that turn database rows into the plan's plain inputs.

Each is one query, streamed in chunks whatever the size of the tenant. Rows go straight from the driver into the
plan's records, without model instances; values that repeat across users
(offices, departments, titles) are shared, not stored once per user.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.db import connection as db

from integrations.models import AzureConnection, DirectoryUser, MappingAttribute, ScopeGroupMember
from integrations.sync.plan import ContactState, MirrorUser, PlanPolicy
from portal.customers.models import Contact, ContactPin, Site

# Keyed by the stored `AzureConnection.mapping_attribute` value (a MappingAttribute).
MIRROR_ATTRIBUTE: dict[str, str] = {
    MappingAttribute.OFFICE: "office_location",
    MappingAttribute.DEPARTMENT: "department",
}
_MIRROR_FIELDS = list(MirrorUser._fields)
_CONTACT_FIELDS = list(ContactState._fields)
CHUNK = 5000


def _rows(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of one query, a chunk at a time.

    On PostgreSQL the rows arrive in chunks of one result set (psycopg's
    `stream`), several times faster than FETCHes from a server-side cursor.
    """
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            started = time.monotonic()
            yield from cursor.cursor.stream(sql, params, size=CHUNK)
            if db.queries_logged:  # Django does not see a stream: count it like a query
                db.queries_log.append(
                    {"sql": sql % tuple(params), "time": f"{time.monotonic() - started:.3f}"}
                )
        return
    with db.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield from chunk


def _flag(value: object) -> bool | None:
    """SQLite returns booleans as 0/1; the plan compares them with `is False`."""
    return value if value is None else bool(value)


def mirror_users(connection: AzureConnection) -> Iterator[MirrorUser]:
    sql = (
        f"SELECT {', '.join(_MIRROR_FIELDS)} FROM {DirectoryUser._meta.db_table} "  # noqa: S608
        "WHERE connection_id = %s AND removed = %s"
    )
    shared: dict[Any, Any] = {}  # the driver's values, each stored once
    share = shared.setdefault
    sqlite_flags = db.vendor != "postgresql"  # psycopg returns booleans as such, SQLite 0/1
    # The tuple itself, without the named tuple's constructor (a Python call per user).
    new = tuple.__new__
    for row in _rows(sql, [connection.pk, False]):
        # In MirrorUser's field order (the SELECT's).
        (
            oid,
            given,
            surname,
            title,
            phone,
            mail,
            upn,
            office,
            department,
            enabled,
            kind,
            licensed,
            purpose,
            display,
        ) = row
        if sqlite_flags:
            enabled, licensed = _flag(enabled), _flag(licensed)
        yield new(
            MirrorUser,
            (
                oid,
                given,
                surname,
                share(title, title),
                phone,
                mail,
                upn,
                share(office, office),
                share(department, department),
                enabled,
                share(kind, kind),
                licensed,
                share(purpose, purpose),
                display,
            ),
        )


def mirror_size(connection: AzureConnection) -> int:
    return DirectoryUser.objects.filter(connection=connection, removed=False).count()


def contact_states(customer_id: int) -> Iterator[ContactState]:
    sql = (
        f"SELECT {', '.join(_CONTACT_FIELDS)} FROM {Contact._meta.db_table} "  # noqa: S608
        "WHERE customer_id = %s"
    )
    if db.vendor == "postgresql":
        yield from map(ContactState._make, _rows(sql, [customer_id]))
        return
    shared = ContactState._fields.index("is_shared_mailbox")
    active = ContactState._fields.index("is_active")
    for row in _rows(sql, [customer_id]):
        values = list(row)
        values[shared], values[active] = _flag(values[shared]), _flag(values[active])
        yield ContactState._make(values)


def site_by_value(connection: AzureConnection) -> dict[str, int]:
    return dict(connection.mappings.values_list("value_key", "site_id"))


def site_names(customer_id: int) -> dict[int, str]:
    return dict(Site.objects.filter(customer_id=customer_id).values_list("id", "name"))


# -- policies (design.md §6.2) ------------------------------------------------------------
def contact_pins(customer_id: int) -> dict[int, frozenset[str]]:
    """Pinned fields of the customer's contacts, by contact id."""
    pins: dict[int, set[str]] = {}
    rows = ContactPin.objects.filter(contact__customer_id=customer_id).values_list("contact_id", "field")
    for contact_id, field in rows:
        pins.setdefault(contact_id, set()).add(field)
    return {contact_id: frozenset(fields) for contact_id, fields in pins.items()}


def scope_members(connection: AzureConnection, groups: list[str] | None = None) -> frozenset[str] | None:
    """Object ids in the scope groups as last read (None: no group scope, everyone is in)."""
    groups = connection.scope_groups if groups is None else groups
    if not groups:
        return None
    return frozenset(
        ScopeGroupMember.objects.filter(connection=connection, group_id__in=groups).values_list(
            "object_id", flat=True
        )
    )


def plan_policy(connection: AzureConnection, **overrides: object) -> PlanPolicy:
    """The connection's policies as the plan's plain values; `overrides` (leavers,
    identity, licensed_only, scope_groups, portal_owned_fields) preview unsaved ones."""
    # Overrides come from the preview form, validated by the caller.
    values: dict[str, Any] = {
        "leavers": connection.leavers,
        "identity": connection.identity,
        "licensed_only": connection.licensed_only,
        "scope_groups": list(connection.scope_groups or []),
        "portal_owned_fields": list(connection.portal_owned_fields or []),
        **overrides,
    }
    return PlanPolicy(
        leavers=values["leavers"],
        identity=values["identity"],
        licensed_only=bool(values["licensed_only"]),
        scope_members=scope_members(connection, values["scope_groups"]),
        portal_owned=frozenset(values["portal_owned_fields"]),
        pinned=contact_pins(connection.customer_id),
    )
