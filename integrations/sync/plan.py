"""The plan: a pure function of (mirror, mapping, contacts) → changes.

No database, no network: everything it needs comes in as plain values, so
each sync rule is unit-tested here directly and a preview (dry run) is just
the plan without the apply.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils.translation import gettext_lazy as _

from integrations.sync.values import email_key, value_key

# Contact fields the sync owns (R7), and the mirror attribute each comes from.
SYNCED_FIELDS: dict[str, str] = {
    "first_name": "given_name",
    "last_name": "surname",
    "job_title": "job_title",
    "mobile_phone": "mobile_phone",
}
SITE_FIELD = "site"
AUDITED_FIELDS = (*SYNCED_FIELDS, SITE_FIELD)

MAILBOX_PURPOSES = frozenset({"shared", "room", "equipment"})
EMAIL_MAX_LENGTH = 254


class SkipReason:
    """Why a directory user was not imported (shown to users, counted per run)."""

    GUEST = "guest"
    DISABLED = "disabled_account"
    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    EMPTY_VALUE = "empty_site_value"
    UNMAPPED = "unmapped_site_value"
    DUPLICATE_EMAIL = "duplicate_email"

    LABELS = {
        GUEST: _("Guest account"),
        DISABLED: _("Disabled account (not a mailbox)"),
        NO_EMAIL: _("No email address"),
        INVALID_EMAIL: _("Email address not usable"),
        EMPTY_VALUE: _("Office/department empty"),
        UNMAPPED: _("Office/department not mapped to a site"),
        DUPLICATE_EMAIL: _("Email shared with another directory user"),
    }


class MirrorUser(NamedTuple):
    """What the plan needs of one mirrored directory user.

    A named tuple, not a dataclass: 100,000 of them are built per run, and a
    tuple is built several times faster (fields are also the mirror's columns).
    """

    object_id: str
    given_name: str = ""
    surname: str = ""
    job_title: str = ""
    mobile_phone: str = ""
    mail: str = ""
    user_principal_name: str = ""
    office_location: str = ""
    department: str = ""
    account_enabled: bool | None = True
    user_type: str = "Member"
    has_license: bool | None = None
    purpose: str = ""
    display_name: str = ""


class ContactState(NamedTuple):
    """What the plan needs of one existing contact of the customer (fields are its columns)."""

    id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    job_title: str = ""
    mobile_phone: str = ""
    site_id: int | None = None
    is_shared_mailbox: bool = False
    azure_object_id: str | None = None
    mailbox_purpose: str = ""


class FieldUpdate(NamedTuple):
    field: str
    old: str
    new: str


class ContactCreate(NamedTuple):
    object_id: str
    email: str
    first_name: str
    last_name: str
    job_title: str
    mobile_phone: str
    site_id: int
    is_shared_mailbox: bool
    mailbox_purpose: str = ""


class ContactUpdate(NamedTuple):
    contact_id: int
    object_id: str
    email: str
    values: Mapping[str, object]  # every field to write (audited and link fields)
    changes: tuple[FieldUpdate, ...]  # the audited subset, old → new


@dataclass
class SyncPlan:
    creates: list[ContactCreate] = field(default_factory=list)
    updates: list[ContactUpdate] = field(default_factory=list)
    unchanged: int = 0
    skips: Counter[str] = field(default_factory=Counter)

    @property
    def skipped(self) -> int:
        return sum(self.skips.values())

    @property
    def updated(self) -> int:
        """Contacts with at least one audited change (link-only refreshes don't count)."""
        return sum(1 for update in self.updates if update.changes)

    @property
    def field_change_count(self) -> int:
        return sum(len(update.changes) for update in self.updates)


def user_email(user: MirrorUser) -> str:
    """`mail`, else `userPrincipalName` unless it is a guest `#EXT#` name (R6)."""
    mail = user.mail.strip()
    if mail:
        return mail
    upn = user.user_principal_name.strip()
    if upn and "#ext#" not in upn.lower():
        return upn
    return ""


def is_mailbox(user: MirrorUser) -> bool:
    """Shared, room and equipment mailboxes are imported even though disabled (R5).

    With the mailbox purpose unknown (MailboxSettings.Read not granted) fall
    back to the usual shape of a shared mailbox: disabled, unlicensed, with mail.
    """
    if user.purpose:
        return user.purpose in MAILBOX_PURPOSES
    return user.account_enabled is False and user.has_license is False and bool(user.mail.strip())


def mailbox_purpose(user: MirrorUser) -> str:
    """shared, room or equipment for a mailbox (the fallback shape counts as shared), else ""."""
    if user.purpose in MAILBOX_PURPOSES:
        return user.purpose
    return "shared" if is_mailbox(user) else ""


NAME_MAX_LENGTH = 64


def directory_name(user: MirrorUser) -> tuple[str, str]:
    """The contact's (first name, last name) from the directory.

    Given name and surname when Entra has either; otherwise (shared, room and
    equipment mailboxes have neither) the display name becomes the first name
    and the last name stays empty, so no contact is nameless. See README.md, "Names and mailboxes".
    """
    if user.given_name.strip() or user.surname.strip():
        return user.given_name, user.surname
    return user.display_name.strip()[:NAME_MAX_LENGTH], ""


def _looks_like_email(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    if not (at and local and "." in domain and len(email) <= EMAIL_MAX_LENGTH and " " not in email):
        return False
    # Invisible characters (zero-width, bidi marks, controls) would make contacts that
    # look identical to others and that Contact.email's own validator rejects.
    return email.isprintable()


def _winner_rank(user: MirrorUser) -> tuple[int, str]:
    """Lower wins: enabled members first, then the lowest object id (stable between runs)."""
    enabled_member = user.account_enabled is not False and user.user_type.lower() != "guest"
    return (0 if enabled_member else 1, user.object_id)


def build_plan(
    *,
    users: Iterable[MirrorUser],
    attribute: str,
    site_by_value: Mapping[str, int],
    contacts: Iterable[ContactState],
    site_names: Mapping[int, str],
) -> SyncPlan:
    """Compare the mirror with the customer's contacts and return what to change.

    `attribute` is the mirror attribute that places users ("office_location"
    or "department"); `site_by_value` maps trimmed, case-folded values to site
    ids. Only users who pass every filter are candidates; among candidates
    sharing an email one deterministic winner is kept.
    """
    with _cyclic_gc_paused():
        return _build_plan(users, attribute, site_by_value, contacts, site_names)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The plan builds some 200,000 small records at 100,000 users and no reference
    cycle: the cyclic collector would rescan the growing heap again and again
    (a third of the plan's time) to free nothing. Reference counting still frees."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_plan(
    users: Iterable[MirrorUser],
    attribute: str,
    site_by_value: Mapping[str, int],
    contacts: Iterable[ContactState],
    site_names: Mapping[int, str],
) -> SyncPlan:
    plan = SyncPlan()
    skips = plan.skips
    value_keys: dict[str, str] = {}  # raw office/department → its key: a handful of values, 100,000 users

    candidates: dict[str, tuple[MirrorUser, str, int]] = {}
    for user in users:
        raw = getattr(user, attribute)
        value = value_keys.get(raw)
        if value is None:
            value = value_keys[raw] = value_key(raw)
        reason, email, site_id = _admit(user, value, site_by_value)
        if reason:
            skips[reason] += 1
            continue
        key = email_key(email)
        held = candidates.get(key)
        if held is None:
            candidates[key] = (user, email, site_id)
            continue
        skips[SkipReason.DUPLICATE_EMAIL] += 1
        if _winner_rank(user) < _winner_rank(held[0]):
            candidates[key] = (user, email, site_id)

    contacts_by_email = {email_key(contact.email): contact for contact in contacts}
    for key, (user, email, site_id) in candidates.items():
        purpose = mailbox_purpose(user)
        shared = bool(purpose)
        first_name, last_name = directory_name(user)
        contact = contacts_by_email.get(key)
        if contact is None:
            plan.creates.append(
                ContactCreate(
                    object_id=user.object_id,
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    job_title=user.job_title,
                    mobile_phone=user.mobile_phone,
                    site_id=site_id,
                    is_shared_mailbox=shared,
                    mailbox_purpose=purpose,
                )
            )
            continue
        if (
            # The common case, compared in one go: nothing differs.
            contact[2:7] == (first_name, last_name, user.job_title, user.mobile_phone, site_id)
            and contact.azure_object_id == user.object_id
            and contact.is_shared_mailbox == shared
            and contact.mailbox_purpose == purpose
        ):
            plan.unchanged += 1
            continue
        update = _diff(contact, user, site_id, purpose, site_names)
        if update is None:
            plan.unchanged += 1
        else:
            plan.updates.append(update)
    return plan


def _admit(user: MirrorUser, value: str, site_by_value: Mapping[str, int]) -> tuple[str | None, str, int]:
    """Return (skip reason or None, email, site id) for one user; `value` is its attribute's key."""
    if user.user_type.lower() == "guest":
        return SkipReason.GUEST, "", 0
    if user.account_enabled is False and not is_mailbox(user):
        return SkipReason.DISABLED, "", 0
    email = user_email(user)
    if not email:
        return SkipReason.NO_EMAIL, "", 0
    if not _looks_like_email(email):
        return SkipReason.INVALID_EMAIL, "", 0
    if not value:
        return SkipReason.EMPTY_VALUE, "", 0
    site_id = site_by_value.get(value)
    if site_id is None:
        return SkipReason.UNMAPPED, "", 0
    return None, email, site_id


def _diff(
    contact: ContactState, user: MirrorUser, site_id: int, purpose: str, site_names: Mapping[int, str]
) -> ContactUpdate | None:
    """The fields of `contact` that differ from the directory; None when none do."""
    changes: list[FieldUpdate] = []
    values: dict[str, object] = {}
    shared = bool(purpose)
    first_name, last_name = directory_name(user)
    for contact_field, user_attribute in SYNCED_FIELDS.items():
        old = getattr(contact, contact_field)
        if contact_field == "first_name":
            new = first_name
        elif contact_field == "last_name":
            new = last_name
        else:
            new = getattr(user, user_attribute)
        if old != new:
            changes.append(FieldUpdate(contact_field, old, new))
            values[contact_field] = new
    if contact.site_id != site_id:
        old_name = site_names.get(contact.site_id, "") if contact.site_id else ""
        changes.append(FieldUpdate(SITE_FIELD, old_name, site_names.get(site_id, str(site_id))))
        values["site_id"] = site_id
    # Link fields: kept current, not audited (they are not contact data).
    if contact.azure_object_id != user.object_id:
        values["azure_object_id"] = user.object_id
    if contact.is_shared_mailbox != shared:
        values["is_shared_mailbox"] = shared
    if contact.mailbox_purpose != purpose:
        values["mailbox_purpose"] = purpose
    if not values:
        return None
    return ContactUpdate(
        contact_id=contact.id,
        object_id=user.object_id,
        email=contact.email,
        values=values,
        changes=tuple(changes),
    )
