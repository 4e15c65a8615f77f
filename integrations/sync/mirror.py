"""Fetch: Graph pages → the per-connection mirror of directory users.

A delta page carries only the properties that changed; they are merged into
the mirror, never replacing what was not sent. Each page is written with a
few statements (one per shape of record, see `bulk.upsert_mirror`), so
queries grow with pages, not users, and no model instance is built per user.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from integrations.directory_fields import MAX_LENGTHS, SHAPE
from integrations.graph.models import GraphUser
from integrations.models import AzureConnection, DirectoryUser
from integrations.reasons import RECORD_NOTE, Message, message
from integrations.sync import bulk
from integrations.values import clean_text

# GraphUser attributes stored in the mirror besides object_id, and a row as `write_page` writes it.
TEXT_ATTRIBUTES = SHAPE.text_attributes
FLAG_ATTRIBUTES = SHAPE.flag_attributes
ROW_COLUMNS = SHAPE.mirror_row_columns
_EMPTY_ATTRIBUTES = ("",) * len(TEXT_ATTRIBUTES) + (None,) * len(FLAG_ATTRIBUTES)
_ALL_UPDATED = ("removed", *TEXT_ATTRIBUTES, *FLAG_ATTRIBUTES)
_REMOVED_UPDATED = ("removed",)
_LIMITS = tuple(MAX_LENGTHS[attribute] for attribute in TEXT_ATTRIBUTES)
_ENABLED_AT = ROW_COLUMNS.index("account_enabled")
_texts_of = operator.attrgetter(*TEXT_ATTRIBUTES)
_flags_of = operator.attrgetter(*FLAG_ATTRIBUTES)


@dataclass
class PageResult:
    """What writing one page did: users received, per-record notes, and, when every row
    was inserted as new (so none has a mailbox purpose yet), its disabled accounts."""

    received: int = 0
    notes: list[Message] = field(default_factory=list)
    new_disabled: list[str] | None = None


def write_page(
    connection: AzureConnection,
    users: Iterable[GraphUser],
    *,
    seen_at: datetime,
    guard: Callable[[], None],
    full_pass: bool = False,
) -> PageResult:
    """Merge one page of Graph users into the mirror of `connection`.

    On a full pass Graph leaves out properties that were never set, so an
    absent property means empty; on a delta round it means unchanged.
    `guard` runs inside the page's transaction before it writes (the run's
    lease check), so a page is never written for a disconnected connection;
    it is required because deleting a connection relies on it (its row is
    locked by the renewal, `integrations/deletion.py`).
    A user who was (dis)abled may have become or stopped being a mailbox: the
    write forgets the classification so it is asked again.
    """
    result = PageResult()
    users = list(users)
    result.received = len(users)
    if not users:
        return result
    # The last record of a user wins should a page carry one twice.
    rows: dict[str, tuple[tuple[object, ...], tuple[str, ...]]] = {}
    for user in users:
        rows[user.object_id] = _row_for(user, result.notes, full_pass)
    groups: dict[tuple[str, ...], list[tuple[object, ...]]] = {}
    for row, update in rows.values():
        groups.setdefault(update, []).append(row)
    with transaction.atomic(savepoint=False):  # the caller's page transaction, or its own
        guard()
        all_new = bulk.upsert_mirror(
            connection.pk,
            ROW_COLUMNS,
            list(groups.items()),
            seen_at=seen_at,
            # A first full pass finds an empty mirror (design.md §8): its rows are COPYed in.
            probably_new=full_pass and connection.full_pass_completed_at is None,
        )
    if all_new:
        result.new_disabled = [object_id for object_id, (row, _) in rows.items() if row[_ENABLED_AT] is False]
    return result


def _row_for(
    user: GraphUser, notes: list[Message], full_pass: bool
) -> tuple[tuple[object, ...], tuple[str, ...]]:
    """The mirror row for one record (ROW_COLUMNS), and which columns it may overwrite."""
    if user.removed:
        return (user.object_id, *_EMPTY_ATTRIBUTES, True), _REMOVED_UPDATED
    if full_pass:
        texts = ["" if value is None else value for value in _texts_of(user)]
        # This runs for every user: check the whole row at C speed, clean value by value only if needed.
        if not _storable(texts):
            texts = [
                _clean(user, attribute, value, notes)
                for attribute, value in zip(TEXT_ATTRIBUTES, texts, strict=True)
            ]
        return (user.object_id, *texts, *_flags_of(user), False), _ALL_UPDATED
    present = user.present
    values: list[object] = [user.object_id]
    for attribute in TEXT_ATTRIBUTES:
        values.append(
            _clean(user, attribute, getattr(user, attribute), notes) if attribute in present else ""
        )
    for attribute in FLAG_ATTRIBUTES:
        values.append(getattr(user, attribute) if attribute in present else None)
    values.append(False)
    update = ("removed", *(a for a in TEXT_ATTRIBUTES + FLAG_ATTRIBUTES if a in present))
    return tuple(values), update


def _storable(texts: list[Any]) -> bool:
    """Whether every value is text, without a NUL byte, within its column's length."""
    try:
        return "\x00" not in "".join(texts) and all(map(operator.le, map(len, texts), _LIMITS))
    except TypeError:  # a value that is not text
        return False


def _clean(user: GraphUser, attribute: str, value: object, notes: list[Message]) -> str:
    value, note = clean_text(attribute, value)
    if note:
        notes.append(message(RECORD_NOTE, user=user.object_id, note=note))
    return value


def mark_unseen_removed(connection: AzureConnection, *, pass_started_at: datetime) -> int:
    """After a completed full pass, users it did not return no longer exist."""
    return DirectoryUser.objects.filter(
        connection=connection, removed=False, last_seen_at__lt=pass_started_at
    ).update(removed=True)
