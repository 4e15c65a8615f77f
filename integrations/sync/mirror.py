"""Fetch: Graph pages → the per-connection mirror of directory users.

A delta page carries only the properties that changed; they are merged into
the mirror, never replacing what was not sent. Each page is written in one
statement per shape of record, so queries grow with pages, not users.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from integrations.graph.models import GraphUser
from integrations.models import AzureConnection, DirectoryUser
from integrations.sync.values import MAX_LENGTHS, clean_text

# GraphUser attributes stored in the mirror, besides object_id.
TEXT_ATTRIBUTES = tuple(MAX_LENGTHS)
FLAG_ATTRIBUTES = ("account_enabled", "has_license")
MIRRORED_ATTRIBUTES = frozenset(TEXT_ATTRIBUTES + FLAG_ATTRIBUTES)
UNIQUE_FIELDS = ["connection", "object_id"]


@dataclass
class PageResult:
    """What writing one page did: users received and per-record notes."""

    received: int = 0
    notes: list[str] = field(default_factory=list)


def write_page(
    connection: AzureConnection,
    users: Iterable[GraphUser],
    *,
    seen_at: datetime,
    full_pass: bool = False,
    guard: Callable[[], None] = lambda: None,
) -> PageResult:
    """Merge one page of Graph users into the mirror of `connection`.

    On a full pass Graph leaves out properties that were never set, so an
    absent property means empty; on a delta round it means unchanged.
    `guard` runs inside the page's transaction before it writes (the run's
    lease check), so a page is never written for a disconnected connection.
    """
    result = PageResult()
    users = list(users)
    result.received = len(users)
    if not users:
        return result
    enabled_before = dict(
        DirectoryUser.objects.filter(
            connection=connection, object_id__in=[u.object_id for u in users]
        ).values_list("object_id", "account_enabled")
    )
    groups: dict[frozenset[str], list[DirectoryUser]] = defaultdict(list)
    for user in users:
        row, update_fields = _row_for(connection, user, seen_at, enabled_before, result.notes, full_pass)
        groups[update_fields].append(row)
    with transaction.atomic():
        guard()
        for update_fields, rows in groups.items():
            DirectoryUser.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=UNIQUE_FIELDS,
                update_fields=sorted(update_fields),
            )
    return result


def _row_for(
    connection: AzureConnection,
    user: GraphUser,
    seen_at: datetime,
    enabled_before: dict[str, bool | None],
    notes: list[str],
    full_pass: bool,
) -> tuple[DirectoryUser, frozenset[str]]:
    """The mirror row for one record, and which columns the upsert may overwrite."""
    row = DirectoryUser(connection=connection, object_id=user.object_id, last_seen_at=seen_at)
    if user.removed:
        row.removed = True
        return row, frozenset({"removed", "last_seen_at"})
    update_fields = {"removed", "last_seen_at"}
    present = MIRRORED_ATTRIBUTES if full_pass else user.present
    for attribute in TEXT_ATTRIBUTES:
        if attribute in present:
            value, note = clean_text(attribute, getattr(user, attribute))
            if note:
                notes.append(f"{user.object_id}: {note}")
            setattr(row, attribute, value)
            update_fields.add(attribute)
    for attribute in FLAG_ATTRIBUTES:
        if attribute in present:
            setattr(row, attribute, getattr(user, attribute))
            update_fields.add(attribute)
    # A user who was (dis)abled may have become or stopped being a mailbox:
    # forget the classification so it is asked again.
    known = user.object_id in enabled_before
    if "account_enabled" in present and known and enabled_before[user.object_id] != user.account_enabled:
        row.purpose = ""
        update_fields.add("purpose")
    return row, frozenset(update_fields)


def mark_unseen_removed(connection: AzureConnection, *, pass_started_at: datetime) -> int:
    """After a completed full pass, users it did not return no longer exist."""
    return DirectoryUser.objects.filter(
        connection=connection, removed=False, last_seen_at__lt=pass_started_at
    ).update(removed=True)
