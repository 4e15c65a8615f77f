"""Apply: write a plan's creates and updates with their audit rows (R16).

Each batch is one transaction holding the contacts it writes and exactly one
`FieldChange` per changed field or created contact, so the audit log can
never disagree with the data. The run lease is re-checked inside every
transaction: a run that lost it (disconnect, takeover) writes nothing more.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

from integrations.audit_format import INITIAL_FIELDS, initial_values_json
from integrations.directory_fields import ContactCreate
from integrations.lease import Lease
from integrations.models import FieldChange, SyncRun
from integrations.sync import bulk
from integrations.sync.plan import ContactUpdate, SyncPlan
from integrations.values import email_key
from portal.customers.models import Contact, Site

T = TypeVar("T")

# Rows per transaction: large enough that commits (a WAL flush each) are a
# small share of the time, small enough that a batch takes well under a second.
BATCH_SIZE = 5000


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    field_changes: int = 0  # overwritten fields; a created contact's audit row is not one
    # Emails a person created in the portal between plan and apply: left for the next run.
    raced: list[str] = field(default_factory=list)


def apply_plan(
    plan: SyncPlan,
    *,
    run: SyncRun,
    lease: Lease,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] = lambda done: None,
) -> ApplyResult:
    """Write `plan` for `run`'s customer in batches; `on_batch(n)` reports progress."""
    result = ApplyResult()
    batch_size = batch_size or BATCH_SIZE
    for creates in _chunks(plan.creates, batch_size):
        with transaction.atomic():
            lease.renew()
            _create_batch(creates, run, result)
        on_batch(len(creates))
    for updates in _chunks(plan.updates, batch_size):
        with transaction.atomic():
            lease.renew()
            _update_batch(updates, run, result)
        on_batch(len(updates))
    return result


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create_batch(batch: Sequence[ContactCreate], run: SyncRun, result: ApplyResult) -> None:
    """Insert the batch's contacts, then one "created" audit row for each contact really inserted.

    A contact someone created in the portal with the same email since the
    plan was made makes that insert a no-op (not an error): it is reported
    as raced and reconciled by the next run. The audit rows' initial values
    are built while their COPY streams (a generator, not a list), so
    PostgreSQL stores the rows already sent while the worker builds the next
    ones (docs/performance.md, "Eighth session").
    """
    now = timezone.now()
    inserted = bulk.insert_contacts(run.customer_id, batch, now=now)  # a ContactCreate is a row
    site_names = dict(Site.objects.filter(customer_id=run.customer_id).values_list("pk", "name"))
    created: list[tuple[ContactCreate, int]] = []
    for create, pk in zip(batch, _ids_in_order(batch, inserted), strict=True):
        if pk is None:
            result.raced.append(create.email)
        else:
            created.append((create, pk))
    if not created:
        return
    audit = (
        (pk, create.email, FieldChange.CREATED, "", _initial_values(create, site_names))
        for create, pk in created
    )
    bulk.insert_field_changes(run_id=run.pk, customer_id=run.customer_id, rows=audit, changed_at=now)
    result.created += len(created)


def _ids_in_order(batch: Sequence[ContactCreate], inserted: list[tuple[int, str]]) -> list[int | None]:
    """Each create's new id, None if it was not inserted.

    Every one inserted and returned in the batch's order (the COPY path) is
    checked with one string comparison each; otherwise they are matched by email.
    """
    if len(inserted) == len(batch) and all(
        map(operator.eq, (email for _, email in inserted), (c.email for c in batch))
    ):
        return [pk for pk, _ in inserted]
    ids = {email_key(email): pk for pk, email in inserted}
    return [ids.get(email_key(create.email)) for create in batch]


# Where a ContactCreate holds each initial value it shares with its audit row, in INITIAL_FIELDS order.
_INITIAL_AT = tuple(
    (key, ContactCreate._fields.index(key)) for key in INITIAL_FIELDS if key in ContactCreate._fields
)


def _initial_values(create: ContactCreate, site_names: dict[int, str]) -> str:
    """A created contact's audit row holds what it was created with (shown on the audit page and CSV)."""
    values: dict[str, Any] = {key: create[at] for key, at in _INITIAL_AT}
    values["site"] = site_names.get(create.site_id, "")
    values["mailbox"] = create.mailbox_purpose
    return initial_values_json(values)


def _update_batch(batch: Sequence[ContactUpdate], run: SyncRun, result: ApplyResult) -> None:
    """Write only the fields that changed, and one audit row per audited field.

    Updates are grouped by the set of fields they write. A contact deleted in
    the portal since the plan was made gets no audit row (nothing was written).
    """
    now = timezone.now()
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for update in batch:
        columns = tuple(sorted(update.values))
        groups.setdefault(columns, []).append((update.contact_id, *(update.values[c] for c in columns)))
    written = bulk.update_contacts(groups, now=now)
    if written != len(batch):
        still_there = set(
            Contact.objects.filter(pk__in=[u.contact_id for u in batch]).values_list("pk", flat=True)
        )
        batch = [update for update in batch if update.contact_id in still_there]
    audit = [
        (update.contact_id, update.email, change.field, change.old, change.new)
        for update in batch
        for change in update.changes
    ]
    bulk.insert_field_changes(run_id=run.pk, customer_id=run.customer_id, rows=audit, changed_at=now)
    result.updated += sum(1 for update in batch if update.changes)
    result.field_changes += len(audit)
