"""Reads that turn database rows into the plan's plain inputs.

Each is one query, streamed in chunks whatever the size of the tenant. Rows go straight from the driver into the
plan's records, without model instances; values that repeat across users
(offices, departments, titles) are shared, not stored once per user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from django.db import connection as db

from integrations.directory_fields import SHAPE, ContactState, MirrorUser
from integrations.models import AzureConnection, DirectoryUser, MappingAttribute, ScopeGroupMember
from integrations.sync.plan import PlanPolicy
from portal.customers.models import Contact, ContactPin, Site

# Keyed by the stored `AzureConnection.mapping_attribute` value (a MappingAttribute).
MIRROR_ATTRIBUTE: dict[str, str] = {
    MappingAttribute.OFFICE: "office_location",
    MappingAttribute.DEPARTMENT: "department",
}
_MIRROR_FIELDS = MirrorUser._fields
# Positions in a mirror row of the values shared between users, and of the flags (0/1 on SQLite).
_MIRROR_REPEATING = tuple(n for n, name in enumerate(_MIRROR_FIELDS) if name in SHAPE.repeating)
_MIRROR_FLAGS = tuple(n for n, name in enumerate(_MIRROR_FIELDS) if name in SHAPE.flag_attributes)


def _mirror_row_builder() -> Callable[[Sequence[Any], Callable[[Any, Any], Any]], MirrorUser]:
    """A function that makes a MirrorUser of a row, sharing the repeating values.

    Generated once from the declaration, as `collections.namedtuple` generates
    its own code: one tuple display per row costs a third of a loop over the
    positions, and the plan makes one per directory user on every run.
    """
    cells = ", ".join(
        f"share(row[{at}], row[{at}])" if at in _MIRROR_REPEATING else f"row[{at}]"
        for at in range(len(_MIRROR_FIELDS))
    )
    namespace = {"new": tuple.__new__, "cls": MirrorUser}
    source = f"lambda row, share: new(cls, ({cells},))"
    builder: Callable[[Sequence[Any], Callable[[Any, Any], Any]], MirrorUser]
    builder = eval(source, namespace)  # noqa: S307  # built from field positions only, no input
    return builder


_MIRROR_ROW = _mirror_row_builder()
_CONTACT_FIELDS = ContactState._fields
_CONTACT_FLAGS = (_CONTACT_FIELDS.index("is_shared_mailbox"), _CONTACT_FIELDS.index("is_active"))
CHUNK = 5000


def _rows(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of one query, a chunk at a time.

    On PostgreSQL the rows arrive in chunks of one result set (psycopg's
    `stream`), several times faster than FETCHes from a server-side cursor.
    """
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            yield from cursor.cursor.stream(sql, params, size=CHUNK)
        return
    with db.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield from chunk


def _records(sql: str, params: list[Any], flags: tuple[int, ...]) -> Iterator[Sequence[Any]]:
    """Rows of one query; on SQLite, which returns booleans as 0/1, the values at
    `flags` become booleans (the plan compares them with `is False`)."""
    if db.vendor == "postgresql":
        yield from _rows(sql, params)
        return
    for row in _rows(sql, params):
        values = list(row)
        for at in flags:
            if values[at] is not None:
                values[at] = bool(values[at])
        yield values


class RowsRead(NamedTuple):
    """The rows one of the plan's reads covers: a table's columns under a condition on one key.
    `plan_memo` fingerprints exactly these."""

    table: str
    columns: tuple[str, ...]
    where: str  # its first %s is the connection's or the customer's id, then `fixed`
    fixed: tuple[Any, ...] = ()

    def select(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE {self.where}"  # noqa: S608

    def params(self, key: int) -> list[Any]:
        return [key, *self.fixed]


MIRROR_ROWS = RowsRead(
    DirectoryUser._meta.db_table, _MIRROR_FIELDS, "connection_id = %s AND removed = %s", (False,)
)
CONTACT_ROWS = RowsRead(Contact._meta.db_table, _CONTACT_FIELDS, "customer_id = %s")


def mirror_users(connection: AzureConnection) -> Iterator[MirrorUser]:
    shared: dict[Any, Any] = {}  # the driver's values, each stored once
    share = shared.setdefault
    build = _MIRROR_ROW
    for row in _records(MIRROR_ROWS.select(), MIRROR_ROWS.params(connection.pk), _MIRROR_FLAGS):
        yield build(row, share)


def mirror_size(connection: AzureConnection) -> int:
    return DirectoryUser.objects.filter(connection=connection, removed=False).count()


def contact_states(customer_id: int) -> Iterator[ContactState]:
    yield from map(
        ContactState._make, _records(CONTACT_ROWS.select(), CONTACT_ROWS.params(customer_id), _CONTACT_FLAGS)
    )


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
