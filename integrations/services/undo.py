"""Undo a run from its audit trail (docs/design.md §6.1).

Every field the run overwrote is put back where the contact still holds the
value the run wrote; anywhere else the field was changed since (by a person or
a later run), so the undo records a conflict and leaves it. Every contact the
run created is deleted if nothing changed it since, else listed and left. A
contact an undo deleted is re-created by undoing that undo: the "deleted"
audit row keeps its fields.

The undo is a run of its own (trigger `undo`) with its own audit rows, written
in the same transaction as the contacts they describe, and it pauses automatic
syncs of the connection: the next sync would otherwise write the directory's
values straight back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from integrations.lease import Lease, LeaseLost
from integrations.models import AzureConnection, FieldChange, PauseReason, SyncRun
from integrations.reasons import Message, message
from integrations.sync.plan import ACTIVE_FIELD, EMAIL_FIELD, SITE_FIELD, SYNCED_FIELDS
from portal.customers.models import Contact, Site

logger = logging.getLogger(__name__)
# Fields the policies (design.md §6.2) make the sync write: an undo puts them back too.
POLICY_FIELDS = (ACTIVE_FIELD, EMAIL_FIELD)

BATCH_SIZE = 2000
LISTED = 200  # conflicts and kept contacts listed on the run; the rest are counted
SNAPSHOT_FIELDS = ("email", *SYNCED_FIELDS, "is_shared_mailbox", "azure_object_id")
FINAL_UNDO_STATUSES = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING, SyncRun.Status.SUCCEEDED)


class UndoNotAllowed(Exception):
    """This run cannot be undone (now); the message says why and is safe to show."""


@dataclass(frozen=True)
class Revert:
    contact_id: int
    email: str
    field: str
    written: str  # what the run wrote, and the contact still holds
    restore: str  # what the run overwrote


@dataclass(frozen=True)
class Conflict:
    email: str
    field: str
    written: str
    reason: Message  # shown in the reader's language (`reasons.shown`): an executed undo stores it


@dataclass(frozen=True)
class Removal:
    contact_id: int
    email: str


@dataclass(frozen=True)
class Kept:
    email: str
    why: Message


@dataclass(frozen=True)
class Recreate:
    email: str
    values: dict


@dataclass
class UndoPlan:
    """What undoing a run does now; the confirmation page lists it, the undo applies it."""

    reverts: list[Revert] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    recreates: list[Recreate] = field(default_factory=list)
    already: int = 0  # fields that hold the old value again: nothing to do, nothing to report

    @property
    def contacts_reverted(self) -> int:
        return len({revert.contact_id for revert in self.reverts})

    def extend(self, other: UndoPlan) -> None:
        for name in ("reverts", "conflicts", "removals", "kept", "recreates"):
            getattr(self, name).extend(getattr(other, name))
        self.already += other.already

    def summary(self) -> dict:
        """JSON for the undo run's page: counts, and the conflicts and kept contacts listed."""
        return {
            "undo": True,
            "reverted_fields": len(self.reverts),
            "reverted_contacts": self.contacts_reverted,
            "deleted": len(self.removals),
            "recreated": len(self.recreates),
            "already_restored": self.already,
            "conflict_count": len(self.conflicts),
            "conflicts": [
                {"email": c.email, "field": c.field, "written": c.written, "reason": c.reason}
                for c in self.conflicts[:LISTED]
            ],
            "kept_count": len(self.kept),
            "kept": [{"email": k.email, "why": k.why} for k in self.kept[:LISTED]],
        }


# -- deciding ----------------------------------------------------------------------
def undo_refusal(run: SyncRun) -> str | None:
    """Why `run` cannot be undone, or None."""
    if run.dry_run:
        return gettext("A preview wrote nothing, so there is nothing to undo.")
    if run.is_active:
        return gettext("This run has not finished yet; undo it once it has.")
    if run.status in (SyncRun.Status.HELD, SyncRun.Status.SKIPPED):
        return gettext("This run wrote nothing, so there is nothing to undo.")
    if not AzureConnection.objects.filter(customer_id=run.customer_id).exists():
        # The undo holds the connection's lease so that no sync writes meanwhile.
        return gettext("The customer is no longer connected to Azure AD; reconnect it to undo this run.")
    if not run.changes.exists():
        return gettext("This run changed no contact, so there is nothing to undo.")
    earlier = run.undo_runs.filter(status__in=FINAL_UNDO_STATUSES).order_by("pk").first()
    if earlier is not None:
        return gettext(
            "This run was already undone by run #%(id)d; undo that run to put its changes back."
        ) % {"id": earlier.pk}
    return None


def undo_plan(run: SyncRun) -> UndoPlan:
    """What undoing `run` would do if it ran now (a read: nothing is written)."""
    plan = UndoPlan()
    for batch in _batches(_changes_of(run)):
        plan.extend(_decide(run, batch, _contacts(run.customer_id, batch, lock=False)))
    return plan


def _changes_of(run: SyncRun):
    return FieldChange.objects.filter(run=run).order_by("id")


def _batches(changes) -> Iterable[list[FieldChange]]:
    batch: list[FieldChange] = []
    for change in changes.iterator(chunk_size=BATCH_SIZE):
        batch.append(change)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _contacts(customer_id: int, batch: Sequence[FieldChange], *, lock: bool) -> dict[int, Contact]:
    ids = {change.contact_id for change in batch if change.contact_id}
    contacts = Contact.objects.filter(customer_id=customer_id, pk__in=ids).select_related("site")
    if lock:
        contacts = contacts.select_for_update(of=("self",))
    return {contact.pk: contact for contact in contacts}


def _site_name(contact: Contact) -> str:
    return contact.site.name if contact.site else ""


def _current(contact: Contact, field_name: str) -> str:
    if field_name == ACTIVE_FIELD:
        return str(contact.is_active)  # audited as "True"/"False" (leavers policy)
    return _site_name(contact) if field_name == SITE_FIELD else getattr(contact, field_name)


def _decide(run: SyncRun, batch: Sequence[FieldChange], contacts: dict[int, Contact]) -> UndoPlan:
    plan = UndoPlan()
    created_ids = [c.contact_id for c in batch if c.field == FieldChange.CREATED and c.contact_id in contacts]
    touched_later = _touched_after(run, created_ids)
    site_names = _site_names(run.customer_id, batch)
    deleted_emails = [c.contact_email for c in batch if c.field == FieldChange.DELETED]
    existing_emails = _existing_emails(run.customer_id, deleted_emails)
    for change in batch:
        contact = contacts.get(change.contact_id) if change.contact_id else None
        if change.field == FieldChange.CREATED:
            if contact is None:
                plan.kept.append(Kept(change.contact_email, gettext_noop("already deleted")))
            elif contact.pk in touched_later or contact.updated_at > change.changed_at:
                plan.kept.append(Kept(contact.email, gettext_noop("changed since it was created")))
            else:
                plan.removals.append(Removal(contact.pk, contact.email))
        elif change.field == FieldChange.DELETED:
            if change.contact_email.lower() in existing_emails:
                plan.kept.append(
                    Kept(change.contact_email, gettext_noop("a contact with this email exists again"))
                )
            else:
                plan.recreates.append(Recreate(change.contact_email, json.loads(change.old_value or "{}")))
        elif change.field in SYNCED_FIELDS or change.field in (SITE_FIELD, *POLICY_FIELDS):
            if contact is None:
                reason: Message = gettext_noop("the contact was deleted since")
                plan.conflicts.append(Conflict(change.contact_email, change.field, change.new_value, reason))
                continue
            current = _current(contact, change.field)
            if current == change.old_value and current != change.new_value:
                plan.already += 1  # back to the old value already (by hand, or an interrupted undo)
            elif current != change.new_value:
                reason = message(gettext_noop("changed since to “%(value)s”"), value=current)
                plan.conflicts.append(Conflict(contact.email, change.field, change.new_value, reason))
            elif change.field == EMAIL_FIELD and _email_taken(contact, change.old_value):
                reason = message(
                    gettext_noop("another contact has the email “%(email)s” now"), email=change.old_value
                )
                plan.conflicts.append(Conflict(contact.email, change.field, change.new_value, reason))
            elif change.field == SITE_FIELD and change.old_value and change.old_value not in site_names:
                reason = message(
                    gettext_noop("the former site “%(site)s” no longer exists"), site=change.old_value
                )
                plan.conflicts.append(Conflict(contact.email, change.field, change.new_value, reason))
            else:
                plan.reverts.append(
                    Revert(contact.pk, contact.email, change.field, current, change.old_value)
                )
    return plan


def _email_taken(contact: Contact, email: str) -> bool:
    """Identity "object" renamed the contact: its old email may belong to another contact since."""
    return (
        Contact.objects.filter(customer_id=contact.customer_id, email__iexact=email)
        .exclude(pk=contact.pk)
        .exists()
    )


def _touched_after(run: SyncRun, contact_ids: Sequence[int]) -> set[int]:
    """Contacts another run audited a change of: necessarily later, since `run` created them."""
    if not contact_ids:
        return set()
    return set(
        FieldChange.objects.filter(contact_id__in=contact_ids)
        .exclude(run=run)
        .values_list("contact_id", flat=True)
    )


def _site_names(customer_id: int, batch: Sequence[FieldChange]) -> dict[str, int]:
    names = {c.old_value for c in batch if c.field == SITE_FIELD and c.old_value}
    return dict(Site.objects.filter(customer_id=customer_id, name__in=names).values_list("name", "pk"))


def _existing_emails(customer_id: int, emails: Sequence[str]) -> set[str]:
    if not emails:
        return set()
    lowered = [email.lower() for email in emails]
    return set(
        Contact.objects.filter(customer_id=customer_id)
        .annotate(key=Lower("email"))
        .filter(key__in=lowered)
        .values_list("key", flat=True)
    )


# -- starting ------------------------------------------------------------------------
def undo_start(*, run: SyncRun, requested_by: User | None, hand_to_worker: bool = True) -> SyncRun:
    """Queue the undo of `run` and pause the connection's automatic syncs.

    Raises UndoNotAllowed (with a message to show) when the run cannot be
    undone, or when another run of the connection is queued or running.
    """
    from integrations.services import runs

    refusal = undo_refusal(run)
    if refusal:
        raise UndoNotAllowed(refusal)
    user = requested_by if requested_by is not None and requested_by.is_authenticated else None
    with transaction.atomic():
        # The run's connection, or the customer's current one if it was reconnected since.
        connection = AzureConnection.objects.select_for_update().filter(customer_id=run.customer_id).first()
        if connection is None:
            raise UndoNotAllowed(undo_refusal(run) or gettext("The customer is not connected."))
        if runs.active_run_after_reaping(connection) is not None:
            raise UndoNotAllowed(
                gettext("A sync of this connection is queued or running; undo once it has finished.")
            )
        if run.undo_runs.filter(status__in=FINAL_UNDO_STATUSES).exists():
            raise UndoNotAllowed(gettext("This run is already being undone."))
        undo = SyncRun.objects.create(
            customer_id=run.customer_id,
            connection=connection,
            tenant_id=run.tenant_id,
            trigger=SyncRun.Trigger.UNDO,
            requested_by=user,
            undoes=run,
        )
        connection.pause(PauseReason.UNDO, by=user)
        if hand_to_worker:
            transaction.on_commit(lambda: runs._hand_to_worker(undo))
    return undo


# -- applying ------------------------------------------------------------------------
def execute_undo(undo: SyncRun) -> SyncRun:
    """Execute a queued undo run (the worker's task, or `azure_undo` in-process)."""
    if undo.connection_id is None:
        undo.cancel(SyncRun.DISCONNECTED)
        return undo
    lease = Lease.acquire(undo.connection_id, run_id=undo.pk)
    if lease is None:
        undo.skip_if_queued(
            gettext_noop("A sync of this connection was running; the undo did nothing. Start it again.")
        )
        return undo
    try:
        if not undo.claim():
            return undo
        plan = _apply(undo, lease)
    except LeaseLost as exc:
        undo.stop(str(exc))
    except Exception:
        logger.exception("Undo run %s failed unexpectedly", undo.pk)
        undo.fail(
            kind="internal",
            message=gettext_noop("The undo failed because of an internal error; it has been logged."),
        )
    else:
        undo.preview = plan.summary()
        undo.updated = plan.contacts_reverted
        undo.fields_changed = len(plan.reverts)
        undo.created = len(plan.recreates)
        undo.skipped = len(plan.conflicts) + len(plan.kept)  # left alone; listed in the preview
        undo.finish()
    finally:
        lease.release()
    return undo


def _apply(undo: SyncRun, lease: Lease) -> UndoPlan:
    """One transaction per batch: the contacts are locked, re-judged and written with their audit rows."""
    if undo.undoes_id is None:
        raise SyncRun.DoesNotExist("An undo run names the run it undoes.")
    target = SyncRun.objects.get(pk=undo.undoes_id)
    done = UndoPlan()
    undo.phase = "applying"
    undo.progress_done, undo.progress_total = 0, _changes_of(target).count()
    undo.save_fields("phase", "progress_done", "progress_total")
    for batch in _batches(_changes_of(target)):
        with transaction.atomic():
            lease.renew()
            plan = _decide(target, batch, _contacts(target.customer_id, batch, lock=True))
            _write(undo, plan)
        done.extend(plan)
        undo.progress_done += len(batch)
        undo.save_fields("progress_done")
    return done


def _write(undo: SyncRun, plan: UndoPlan) -> None:
    now = timezone.now()
    audit: list[FieldChange] = []

    def row(contact_id: int | None, email: str, field_name: str, old: str, new: str) -> FieldChange:
        return FieldChange(
            run=undo,
            customer_id=undo.customer_id,
            contact_id=contact_id,
            contact_email=email,
            field=field_name,
            old_value=old,
            new_value=new,
            changed_at=now,
        )

    # Field reverts, grouped per contact.
    if plan.reverts:
        contacts = {c.pk: c for c in Contact.objects.filter(pk__in={r.contact_id for r in plan.reverts})}
        site_ids = dict(
            Site.objects.filter(
                customer_id=undo.customer_id,
                name__in={r.restore for r in plan.reverts if r.field == SITE_FIELD},
            ).values_list("name", "pk")
        )
        for revert in plan.reverts:
            contact = contacts[revert.contact_id]
            if revert.field == SITE_FIELD:
                contact.site_id = site_ids.get(revert.restore) if revert.restore else None
            elif revert.field == ACTIVE_FIELD:
                contact.is_active = revert.restore == "True"
            else:
                setattr(contact, revert.field, revert.restore)
            contact.updated_at = now
            audit.append(row(contact.pk, contact.email, revert.field, revert.written, revert.restore))
        Contact.objects.bulk_update(
            list(contacts.values()), [*SYNCED_FIELDS, "site", *POLICY_FIELDS, "updated_at"]
        )

    # Created contacts nothing changed since: their fields go into the audit row, then they go.
    if plan.removals:
        removed = Contact.objects.filter(pk__in=[r.contact_id for r in plan.removals]).select_related("site")
        for contact in removed:
            audit.append(row(contact.pk, contact.email, FieldChange.DELETED, _snapshot(contact), ""))
        FieldChange.objects.bulk_create(audit)
        audit = []
        # FieldChange.contact is SET_NULL: every audit row of these contacts survives them.
        Contact.objects.filter(pk__in=[r.contact_id for r in plan.removals]).delete()

    # Contacts an undone undo deleted come back.
    for recreate in plan.recreates:
        values = dict(recreate.values)
        site_name = values.pop("site", "")
        site_id = (
            Site.objects.filter(customer_id=undo.customer_id, name=site_name)
            .values_list("pk", flat=True)
            .first()
            if site_name
            else None
        )
        contact = Contact.objects.create(
            customer_id=undo.customer_id,
            site_id=site_id,
            **{name: values.get(name, "") for name in ("email", *SYNCED_FIELDS)},
            is_shared_mailbox=bool(values.get("is_shared_mailbox")),
            azure_object_id=values.get("azure_object_id") or None,
        )
        contact.created_at = contact.updated_at = now
        Contact.objects.filter(pk=contact.pk).update(created_at=now, updated_at=now)
        audit.append(row(contact.pk, contact.email, FieldChange.CREATED, "", contact.email))
    FieldChange.objects.bulk_create(audit)


def _snapshot(contact: Contact) -> str:
    values = {name: getattr(contact, name) for name in SNAPSHOT_FIELDS}
    values["site"] = _site_name(contact)
    return json.dumps(values, ensure_ascii=False, sort_keys=True)
