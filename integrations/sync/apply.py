"""Apply: write a plan's creates and updates with their audit rows (R16).

Each batch is one transaction holding the contacts it writes and exactly one
`FieldChange` per changed field or created contact, so the audit log can
never disagree with the data. The run lease is re-checked inside every
transaction: a run that lost it (disconnect, takeover) writes nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from integrations.models import FieldChange, SyncRun
from integrations.sync.lease import Lease
from integrations.sync.plan import ContactCreate, ContactUpdate, SyncPlan
from integrations.sync.values import email_key
from portal.customers.models import Contact

BATCH_SIZE = 2000


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    field_changes: int = 0
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
    for batch in _chunks(plan.creates, batch_size):
        with transaction.atomic():
            lease.renew()
            _create_batch(batch, run, result)
        on_batch(len(batch))
    for batch in _chunks(plan.updates, batch_size):
        with transaction.atomic():
            lease.renew()
            _update_batch(batch, run, result)
        on_batch(len(batch))
    return result


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create_batch(batch: Sequence[ContactCreate], run: SyncRun, result: ApplyResult) -> None:
    customer_id = run.customer_id
    keys = [email_key(create.email) for create in batch]
    taken = set(
        Contact.objects.filter(customer_id=customer_id)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=keys)
        .values_list("email_lower", flat=True)
    )
    now = timezone.now()
    contacts = []
    for create in batch:
        if email_key(create.email) in taken:
            result.raced.append(create.email)
            continue
        contacts.append(
            Contact(
                customer_id=customer_id,
                site_id=create.site_id,
                email=create.email,
                first_name=create.first_name,
                last_name=create.last_name,
                job_title=create.job_title,
                mobile_phone=create.mobile_phone,
                is_shared_mailbox=create.is_shared_mailbox,
                azure_object_id=create.object_id,
                created_at=now,
                updated_at=now,
            )
        )
    Contact.objects.bulk_create(contacts)
    FieldChange.objects.bulk_create(
        FieldChange(
            run=run,
            customer_id=customer_id,
            contact_id=contact.pk,
            contact_email=contact.email,
            field=FieldChange.CREATED,
            new_value=contact.email,
            changed_at=now,
        )
        for contact in contacts
    )
    result.created += len(contacts)
    result.field_changes += len(contacts)


def _update_batch(batch: Sequence[ContactUpdate], run: SyncRun, result: ApplyResult) -> None:
    """Group updates by the set of fields they write: one UPDATE per group."""
    now = timezone.now()
    groups: dict[tuple[str, ...], list[Contact]] = defaultdict(list)
    audit: list[FieldChange] = []
    for update in batch:
        contact = Contact(pk=update.contact_id, updated_at=now, **update.values)
        groups[tuple(sorted(update.values))].append(contact)
        for change in update.changes:
            audit.append(
                FieldChange(
                    run=run,
                    customer_id=run.customer_id,
                    contact_id=update.contact_id,
                    contact_email=update.email,
                    field=change.field,
                    old_value=change.old,
                    new_value=change.new,
                    changed_at=now,
                )
            )
        if update.changes:
            result.updated += 1
    for fields, contacts in groups.items():
        Contact.objects.bulk_update(contacts, [*fields, "updated_at"])
    FieldChange.objects.bulk_create(audit)
    result.field_changes += len(audit)
