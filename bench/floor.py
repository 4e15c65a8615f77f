"""The floor: what PostgreSQL physically needs to store the rows a sync wrote.

The rows are exported from the real tables (same data, same widths), then
COPYed, in one transaction, into empty tables created `LIKE ... INCLUDING
ALL`: same columns, defaults, unique constraints and indexes. That is the
floor the targets use. The same COPY is then repeated with the real tables'
foreign keys added too ("floor with foreign keys"): the difference is what
the schema's constraints cost, which no sync can avoid. A third COPY adds the
audit table's three foreign keys that migration integrations/0010 dropped
("with audit foreign keys"): what that decision saves (design.md §8). Only the
COPYs and the commit are timed.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection

# (real table, key in the row counts, floor table)
TABLES = (
    ("customers_contact", "contacts", "bench_floor_contact"),
    ("integrations_fieldchange", "audit", "bench_floor_fieldchange"),
    ("integrations_directoryuser", "mirror", "bench_floor_directoryuser"),
)


def copy_floor(*, contacts: int, audit: int, mirror: int, repeat: int = 3) -> dict:
    """Median seconds to COPY that many contact, audit and mirror rows into indexed tables."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the COPY floor is measured on PostgreSQL")
    counts = {"contacts": contacts, "audit": audit, "mirror": mirror}
    connection.ensure_connection()
    pg = connection.connection
    data: dict[str, bytes] = {}
    copied: dict[str, int] = {}
    with pg.cursor() as cur:
        for table, key, _ in TABLES:
            wanted = int(counts[key])
            query = f"COPY (SELECT * FROM {table} ORDER BY id LIMIT {wanted}) TO STDOUT"
            with cur.copy(query) as copy:
                data[table] = b"".join(bytes(chunk) for chunk in copy)
            copied[key] = data[table].count(b"\n")
    plain = [_timed_copy(pg, data, foreign_keys=False) for _ in range(repeat)]
    with_keys = [_timed_copy(pg, data, foreign_keys=True) for _ in range(repeat)]
    with_audit_keys = [_timed_copy(pg, data, foreign_keys=True, audit_keys=True) for _ in range(repeat)]
    return {
        "seconds": statistics.median(plain),
        "runs": plain,
        "with_foreign_keys_seconds": statistics.median(with_keys),
        "with_audit_foreign_keys_seconds": statistics.median(with_audit_keys),
        "rows": copied,
    }


# The audit table's keys as Django declared them before migration integrations/0010.
AUDIT_KEYS = (
    ("run_id", "integrations_syncrun"),
    ("customer_id", "customers_customer"),
    ("contact_id", "customers_contact"),
)


def _timed_copy(pg, data: dict[str, bytes], *, foreign_keys: bool, audit_keys: bool = False) -> float:
    _create_tables(pg, foreign_keys=foreign_keys)
    if audit_keys:
        with pg.cursor() as cur:
            for column, target in AUDIT_KEYS:
                cur.execute(
                    f"ALTER TABLE bench_floor_fieldchange ADD FOREIGN KEY ({column}) "
                    f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
                )
    started = time.perf_counter()
    with pg.transaction(), pg.cursor() as cur:
        for table, _key, floor_table in TABLES:
            if data[table]:
                with cur.copy(f"COPY {floor_table} FROM STDIN") as copy:
                    copy.write(data[table])
    seconds = time.perf_counter() - started
    _drop_tables(pg)
    return seconds


def _create_tables(pg, *, foreign_keys: bool) -> None:
    _drop_tables(pg)
    with pg.cursor() as cur:
        for table, _key, floor_table in TABLES:
            cur.execute(f"CREATE TABLE {floor_table} (LIKE {table} INCLUDING ALL)")
            if not foreign_keys:
                continue
            cur.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
                [table],
            )
            for (definition,) in cur.fetchall():
                cur.execute(f"ALTER TABLE {floor_table} ADD {definition}")


def _drop_tables(pg) -> None:
    with pg.cursor() as cur:
        for _table, _key, floor_table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {floor_table}")
