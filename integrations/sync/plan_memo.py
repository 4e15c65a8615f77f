"""A plan with nothing to do, remembered by the fingerprint of everything it read.

The plan is a pure function of its inputs: the connection's mirror, the
customer's contacts, the mapping, the site names, the policies and the plan's
own code. A run whose plan had nothing to create or update remembers, on its
connection, a fingerprint of those inputs and the counts it recorded. The next
run computes the fingerprint again (two aggregate queries that PostgreSQL
answers without sending a row) and, when it is the same, records the same
counts without reading 100,000 mirror rows and contacts into Python: the same
inputs give the same plan, and that plan had nothing to write. Any change,
made by the sync, by a person in the portal or the admin, by `QuerySet.update()`
or by raw SQL, changes the fingerprint, and the run plans as usual
(design.md section 8).

Only on PostgreSQL (SQLite has no digest function; it always plans), only for
writing runs: a dry run's preview and an approval need the plan itself.
"""

from __future__ import annotations

import hashlib
import json
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.db import connection as db
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.models import AzureConnection, SyncRun
from integrations.sync import loaders
from integrations.sync.plan import PlanSettings

# The run's fields a remembered plan restores (the counts of `runner._record_plan`).
REMEMBERED_FIELDS = ("unchanged", "skipped", "skipped_by_reason", "policy_summary")
# A remembered plan is planned again after this long whatever its fingerprint: a safety net
# for what a fingerprint cannot see (a hash collision), at one full plan a week.
MEMO_LIFETIME = timedelta(days=7)


@contextmanager
def one_snapshot() -> Iterator[None]:
    """The plan's reads and their fingerprint in one snapshot (PostgreSQL's REPEATABLE READ).

    Without it a contact edited between the fingerprint and the plan's reads
    would pair one state's fingerprint with another state's plan. Inside a
    transaction already (a test case), the reads use that transaction.
    """
    if db.vendor != "postgresql" or db.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with db.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def fingerprint(connection: AzureConnection, settings: PlanSettings) -> str | None:
    """A digest of every input of the connection's plan; None where it cannot be computed (SQLite)."""
    if db.vendor != "postgresql":
        return None
    digest = hashlib.sha256(_code_version().encode())
    digest.update(_rows_digest(loaders.MIRROR_ROWS, connection.pk).encode())
    digest.update(_rows_digest(loaders.CONTACT_ROWS, connection.customer_id).encode())
    digest.update(_settings_digest(settings).encode())
    return digest.hexdigest()


def recall(connection: AzureConnection, print_: str | None) -> dict[str, Any] | None:
    """The counts remembered for this fingerprint, or None (plan as usual)."""
    memo = connection.plan_memo or {}
    if print_ is None or memo.get("fingerprint") != print_:
        return None
    planned_at = parse_datetime(str(memo.get("planned_at", "")))
    if planned_at is None or not timedelta(0) <= timezone.now() - planned_at <= MEMO_LIFETIME:
        return None  # too old, or from a clock that was ahead
    if not all(name in memo for name in REMEMBERED_FIELDS):
        return None
    return {name: memo[name] for name in REMEMBERED_FIELDS}


def memo_of(run: SyncRun, print_: str | None) -> dict[str, Any]:
    """What to remember of a run whose plan had nothing to write ({}: nothing)."""
    if print_ is None:
        return {}
    return {
        "fingerprint": print_,
        "planned_at": timezone.now().isoformat(),
        **{name: getattr(run, name) for name in REMEMBERED_FIELDS},
    }


def _rows_digest(rows: loaders.RowsRead, key: int) -> str:
    """Row count and the XOR of the rows' 64-bit hashes: the same for the same set of rows.

    `hash_record_extended` (PostgreSQL 14+, Django 5.2's minimum) hashes each column
    with its type's own hash, without formatting the row as text. It combines the
    columns linearly (31 * previous + next), so the same edit made to two rows, or two
    rows swapping a value, would change their hashes by amounts whose XOR often
    cancels (about 1 in 2**26); each row's hash is therefore hashed once more
    (`hashtextextended`), which leaves an accident at about 1 in 2**64. The rows carry
    their unique id, so no two are equal and none cancels another. 100,000 rows take
    some 40-80 ms; `MEMO_LIFETIME` bounds even an accident.
    """
    row_hash = f"hash_record_extended(ROW({', '.join(rows.columns)}), 0)"
    sql = (
        f"SELECT count(*), bit_xor(hashtextextended({row_hash}::text, 0)) "  # noqa: S608
        f"FROM {rows.table} WHERE {rows.where}"  # table and columns come from the models, never from input
    )
    with db.cursor() as cursor:
        cursor.execute(sql, rows.params(key))
        count, xor = cursor.fetchone()
    return f"{rows.table}:{count}:{xor};"


def _settings_digest(settings: PlanSettings) -> str:
    policy = settings["policy"]
    described = {
        "attribute": settings["attribute"],
        "site_by_value": sorted(settings["site_by_value"].items()),
        "site_names": sorted(settings["site_names"].items()),
        "leavers": policy.leavers,
        "identity": policy.identity,
        "licensed_only": policy.licensed_only,
        "scope_members": None if policy.scope_members is None else sorted(policy.scope_members),
        "portal_owned": sorted(policy.portal_owned),
        "pinned": sorted((contact, sorted(fields)) for contact, fields in policy.pinned.items()),
    }
    return hashlib.sha256(json.dumps(described, separators=(",", ":")).encode()).hexdigest()


@cache
def _code_version() -> str:
    """What decides the plan and the counts a run records besides its inputs: the source
    of those modules, and Python's version and Unicode tables (case folding, the email
    checks). A release or an upgrade that changes any of them plans anew."""
    from integrations import directory_fields, values
    from integrations.policies import summary
    from integrations.sync import plan, runner

    digest = hashlib.sha256(f"{sys.version_info[:3]} {unicodedata.unidata_version}".encode())
    for module in (plan, values, directory_fields, loaders, runner, summary):
        digest.update(Path(module.__file__ or "").read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()
