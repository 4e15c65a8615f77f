"""Bulk writes of the sync in plain SQL: a handful of statements per batch.

At 100,000 users the ORM's per-object work (a model instance per row, field
preparation per value, `bulk_update`'s CASE expression per row and field)
costs several times what the database itself needs, so the sync's large
writes pass plain tuples straight to the driver instead:

* PostgreSQL: rows are COPYed into a temporary table (dropped at commit), and
  one INSERT ... SELECT / UPDATE ... FROM moves them into place, with the same
  conflict handling an INSERT would have. Audit rows are COPYed directly.
* SQLite (and any other backend): `executemany` of one prepared statement, or
  multi-row VALUES where ids must come back (RETURNING).

Callers own the transaction (and the lease check inside it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Model

from integrations.directory_fields import SHAPE
from integrations.models import DirectoryUser, FieldChange
from portal.customers.models import Contact

MIRROR = DirectoryUser._meta.db_table
CONTACT = Contact._meta.db_table
AUDIT = FieldChange._meta.db_table

# One row of values for the driver, in the order of the columns it goes with.
Row = Sequence[Any]

# Contact columns a sync update may write (plan.ContactUpdate.values keys), and those of a new contact.
UPDATABLE_CONTACT_COLUMNS = SHAPE.updatable_contact_columns
NEW_CONTACT_COLUMNS = SHAPE.new_contact_columns
_NEW_EMAIL_AT = NEW_CONTACT_COLUMNS.index("email")
AUDIT_COLUMNS = ("contact_id", "contact_email", "field", "old_value", "new_value")


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _column_type(model: type[Model], column: str) -> str:
    field = next(f for f in model._meta.concrete_fields if f.column == column)
    column_type = field.db_type(connection)
    if column_type is None:  # a concrete field always has one
        raise ValueError(f"{model.__name__}.{column} has no column type")
    return column_type


def _datetime(value: datetime) -> Any:
    """The driver's value for a datetime column (a string on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def _copy(cursor: CursorWrapper, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
    """COPY rows in PostgreSQL's binary format, each value dumped for its column's type.

    Binary, because the text format's escaping is done per value in the
    worker (psycopg's `write_row` was its largest single cost in a 100,000-user
    import: ~1 s of the 2 cores' time, against ~0.4 s in binary).
    """
    types = _column_type_ids(cursor, table, columns)  # not inside the COPY: the connection is busy there
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


# (table, columns) -> their type OIDs. Built-in types' OIDs never change, and a temporary
# table of a given name always has the same column types (`_temp_table`).
_TYPE_IDS: dict[tuple[str, tuple[str, ...]], list[int]] = {}


def _column_type_ids(cursor: CursorWrapper, table: str, columns: Sequence[str]) -> list[int]:
    key = (table, tuple(columns))
    ids = _TYPE_IDS.get(key)
    if ids is None:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = ANY(%s) AND NOT attisdropped",
            [table, list(columns)],
        )
        by_name = dict(cursor.fetchall())
        ids = _TYPE_IDS[key] = [int(by_name[column]) for column in columns]
    return ids


def _temp_table(
    cursor: CursorWrapper, name: str, model: type[Model], columns: Sequence[str], *extra: str
) -> None:
    """A temporary table for one batch, with the model's column types, dropped at commit.

    Dropped first too: inside an enclosing transaction (a test's) the previous
    batch's table is still there.
    """
    definitions = [f"{column} {_column_type(model, column)}" for column in columns]
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
    cursor.execute(f"CREATE TEMPORARY TABLE {name} ({', '.join([*definitions, *extra])}) ON COMMIT DROP")


# -- the mirror ----------------------------------------------------------------------------
def upsert_mirror(
    connection_id: int,
    columns: Sequence[str],
    groups: Sequence[tuple[Sequence[str], Sequence[Row]]],
    *,
    seen_at: datetime,
    probably_new: bool = False,
) -> bool:
    """Insert or merge mirror rows of one connection; True if every row was inserted as new.

    `columns` name every value of a row (object_id first); each group is
    (the columns a conflict may overwrite, its rows). An existing row whose
    `account_enabled` changes forgets its mailbox purpose, so it is asked again.
    `probably_new` (a connection's first full pass): on PostgreSQL the rows
    are COPYed straight into the mirror, and merged as usual should one of
    them exist after all. Only that path answers True: a merge does not say
    which rows it inserted.
    """
    seen = _datetime(seen_at)
    with connection.cursor() as cursor:
        if _postgres():
            _mirror_commit_async(cursor)
            if probably_new and _copy_new_mirror_rows(cursor, connection_id, columns, groups, seen):
                return True
            _temp_table(cursor, "sync_mirror_page", DirectoryUser, columns, "shape integer")
            _copy(
                cursor,
                "sync_mirror_page",
                [*columns, "shape"],
                ((*row, shape) for shape, (_, rows) in enumerate(groups) for row in rows),
            )
            for shape, (update, _) in enumerate(groups):
                cursor.execute(
                    f"INSERT INTO {MIRROR} (connection_id, last_seen_at, purpose, {', '.join(columns)}) "  # noqa: S608
                    f"SELECT %s, %s, '', {', '.join(columns)} FROM sync_mirror_page WHERE shape = %s "
                    f"ON CONFLICT (connection_id, object_id) DO UPDATE SET {_mirror_updates(update)}",
                    [connection_id, seen, shape],
                )
            return False
        for update, rows in groups:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {MIRROR} (connection_id, last_seen_at, purpose, {', '.join(columns)}) "  # noqa: S608
                f"VALUES (%s, %s, '', {placeholders}) "
                f"ON CONFLICT (connection_id, object_id) DO UPDATE SET {_mirror_updates(update)}",
                [(connection_id, seen, *row) for row in rows],
            )
        return False


def _mirror_commit_async(cursor: CursorWrapper) -> None:
    """The page's transaction commits without waiting for its WAL to reach the disk.

    Safe (design.md §8): PostgreSQL stays consistent whatever happens; a
    crash may lose the last pages' writes (those committed in the last
    ~3 x wal_writer_delay), never part of one. The run's progress and the
    mailbox purposes stored with the page share its fate (a lost purpose is
    asked again, its row having none; a crash ends the run anyway). Every
    later synchronous commit (the delta link saved after the last page, the
    run's end) flushes the WAL up to its own commit record, so it makes every
    earlier page durable: a delta link on disk implies every page read before
    it is too, and a lost page is read again by the next run from the link
    still saved.
    Outside a transaction (autocommit) SET LOCAL does nothing.
    """
    cursor.execute("SET LOCAL synchronous_commit = off")


def _copy_new_mirror_rows(
    cursor: CursorWrapper,
    connection_id: int,
    columns: Sequence[str],
    groups: Sequence[tuple[Sequence[str], Sequence[Row]]],
    seen: Any,
) -> bool:
    """COPY rows into the mirror as new ones; False (nothing written) if one already exists.

    A new row is what the upsert would insert for it (its conflict columns
    only matter for a row that exists); a duplicate id aborts the COPY, whose
    savepoint is rolled back, and the caller merges the page instead.
    """
    from psycopg.errors import UniqueViolation

    try:
        with transaction.atomic():
            _copy(
                cursor,
                MIRROR,
                ["connection_id", "last_seen_at", "purpose", *columns],
                ((connection_id, seen, "", *row) for _, rows in groups for row in rows),
            )
    except UniqueViolation:
        return False
    return True


def _mirror_updates(update: Sequence[str]) -> str:
    # Every SET expression sees the row as it was before the statement (SQL semantics).
    assignments = [f"{column} = excluded.{column}" for column in ("last_seen_at", *update)]
    if "account_enabled" in update:
        distinct = "IS DISTINCT FROM" if _postgres() else "IS NOT"
        assignments.append(
            f"purpose = CASE WHEN {MIRROR}.account_enabled {distinct} excluded.account_enabled "
            f"THEN '' ELSE {MIRROR}.purpose END"
        )
    return ", ".join(assignments)


def set_purposes(connection_id: int, rows: Sequence[tuple[str, str]]) -> None:
    """Store mailbox purposes: rows of (purpose, object_id).

    One UPDATE per account, each finding its row by the unique index however
    stale the planner's statistics are right after a large import: a join
    with the answers, planned on those statistics, scanned the whole mirror
    (measured: 40 ms a chunk against 1.7 ms; with a nested loop forced, once
    per answer, 35 s for a 100,000-user import's 9,344).
    Not a server-side prepared statement (half the database's time again):
    behind a transaction-pooling PgBouncer (docs/performance.md) a statement
    prepared in one transaction may be missing in the next.
    """
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {MIRROR} SET purpose = %s WHERE connection_id = %s AND object_id = %s",  # noqa: S608
            [(purpose, connection_id, object_id) for purpose, object_id in rows],
        )


# -- contacts ------------------------------------------------------------------------------
def insert_contacts(customer_id: int, rows: Sequence[Row], *, now: datetime) -> list[tuple[int, str]]:
    """Insert new contacts (values in NEW_CONTACT_COLUMNS order); return (id, email) of those inserted.

    A row whose email a contact of the customer already has (created in the
    portal since the plan) is left out, not an error.
    """
    if not rows:
        return []
    stamp = _datetime(now)
    columns = ", ".join(NEW_CONTACT_COLUMNS)
    with connection.cursor() as cursor:
        if _postgres():
            copied = _copy_new_contacts(cursor, customer_id, rows, stamp)
            if copied is not None:
                return copied
            _temp_table(cursor, "sync_new_contacts", Contact, NEW_CONTACT_COLUMNS)
            _copy(cursor, "sync_new_contacts", NEW_CONTACT_COLUMNS, rows)
            cursor.execute(
                f"INSERT INTO {CONTACT} (customer_id, created_at, updated_at, {columns}) "  # noqa: S608
                f"SELECT %s, %s, %s, {columns} FROM sync_new_contacts "
                "ON CONFLICT DO NOTHING RETURNING id, email",
                [customer_id, stamp, stamp],
            )
            return list(cursor.fetchall())
        inserted: list[tuple[int, str]] = []
        sql = f"INSERT INTO {CONTACT} (customer_id, created_at, updated_at, {columns}) VALUES "  # noqa: S608
        if not connection.features.can_return_rows_from_bulk_insert:  # SQLite before 3.35
            row_sql = "(" + ", ".join(["%s"] * (len(NEW_CONTACT_COLUMNS) + 3)) + ") ON CONFLICT DO NOTHING"
            for row in rows:
                cursor.execute(sql + row_sql, (customer_id, stamp, stamp, *row))
                if cursor.rowcount == 1:
                    inserted.append((cursor.lastrowid, row[_NEW_EMAIL_AT]))
            return inserted
        width = len(NEW_CONTACT_COLUMNS) + 3
        max_params = connection.features.max_query_params
        per_statement = max(1, max_params // width) if max_params else len(rows)
        row_sql = "(" + ", ".join(["%s"] * width) + ")"
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                sql + ", ".join([row_sql] * len(chunk)) + " ON CONFLICT DO NOTHING RETURNING id, email",
                [value for row in chunk for value in (customer_id, stamp, stamp, *row)],
            )
            inserted.extend(cursor.fetchall())
        return inserted


def _copy_new_contacts(
    cursor: CursorWrapper, customer_id: int, rows: Sequence[Row], stamp: Any
) -> list[tuple[int, str]] | None:
    """COPY new contacts straight into the table, with ids taken from its sequence first.

    None (nothing written) if one of them conflicts with an existing contact
    (one created in the portal since the plan): the COPY's savepoint is
    rolled back and the caller inserts them one conflict at a time instead.
    The ids a failed attempt took are simply not used (a sequence has gaps anyway).
    """
    from psycopg.errors import UniqueViolation

    # The sequence is looked up once, not once per id (a catalog lookup each).
    cursor.execute(
        "SELECT nextval(sequence) FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS sequence OFFSET 0) s, "
        "generate_series(1, %s)",
        [CONTACT, len(rows)],
    )
    ids = [pk for (pk,) in cursor.fetchall()]
    try:
        with transaction.atomic():
            _copy(
                cursor,
                CONTACT,
                ("id", "customer_id", "created_at", "updated_at", *NEW_CONTACT_COLUMNS),
                ((pk, customer_id, stamp, stamp, *row) for pk, row in zip(ids, rows, strict=True)),
            )
    except UniqueViolation:
        return None
    return [(pk, row[_NEW_EMAIL_AT]) for pk, row in zip(ids, rows, strict=True)]


def update_contacts(groups: Mapping[tuple[str, ...], Sequence[Row]], *, now: datetime) -> int:
    """Write changed fields only: each group is (its columns, rows of (id, *values)).

    Returns how many contacts were updated (fewer than given if some were deleted meanwhile).
    """
    stamp = _datetime(now)
    with connection.cursor() as cursor:
        if _postgres():
            return _update_contacts_postgres(cursor, groups, stamp)
        written = 0
        for columns, rows in groups.items():
            assignments = ", ".join(f"{column} = %s" for column in (*columns, "updated_at"))
            cursor.executemany(
                f"UPDATE {CONTACT} SET {assignments} WHERE id = %s",  # noqa: S608
                [(*row[1:], stamp, row[0]) for row in rows],
            )
            written += cursor.rowcount
        return written


def _update_contacts_postgres(
    cursor: CursorWrapper, groups: Mapping[tuple[str, ...], Sequence[Row]], stamp: Any
) -> int:
    """One UPDATE for the batch: each row carries a bit mask of the columns it writes."""
    columns = UPDATABLE_CONTACT_COLUMNS
    bits = {column: 1 << n for n, column in enumerate(columns)}

    def rows() -> Iterator[tuple[Any, ...]]:
        for group_columns, group_rows in groups.items():
            mask = sum(bits[column] for column in group_columns)
            positions = {column: n for n, column in enumerate(group_columns, start=1)}
            for row in group_rows:
                yield (row[0], *(row[positions[c]] if c in positions else None for c in columns), mask)

    _temp_table(cursor, "sync_contact_updates", Contact, ("id", *columns), "mask integer")
    _copy(cursor, "sync_contact_updates", ("id", *columns, "mask"), rows())
    assignments = ", ".join(
        f"{column} = CASE WHEN u.mask & {bits[column]} <> 0 THEN u.{column} ELSE c.{column} END"
        for column in columns
    )
    cursor.execute(
        f"UPDATE {CONTACT} AS c SET {assignments}, updated_at = %s "  # noqa: S608
        "FROM sync_contact_updates AS u WHERE c.id = u.id",
        [stamp],
    )
    updated: int = cursor.rowcount
    return updated


# -- the audit log -------------------------------------------------------------------------
def insert_field_changes(*, run_id: int, customer_id: int, rows: Iterable[Row], changed_at: datetime) -> None:
    """Audit rows, values in AUDIT_COLUMNS order; `rows` may be a generator (it is read once,
    while PostgreSQL's COPY streams)."""
    if isinstance(rows, Sequence) and not rows:
        return
    columns = ("run_id", "customer_id", "changed_at", *AUDIT_COLUMNS)
    with connection.cursor() as cursor:
        if _postgres():
            _copy(cursor, AUDIT, columns, ((run_id, customer_id, changed_at, *row) for row in rows))
            return
        stamp = _datetime(changed_at)
        cursor.executemany(
            f"INSERT INTO {AUDIT} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
            [(run_id, customer_id, stamp, *row) for row in rows],
        )
