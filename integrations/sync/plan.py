"""The plan: a pure function of (mirror, mapping, contacts) → changes.

No database, no network: everything it needs comes in as plain values, so
each sync rule is unit-tested here directly and a preview (dry run) is just
the plan without the apply.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypedDict

from django.utils.translation import gettext_lazy as _

from integrations.directory_fields import ACTIVE_FIELD as ACTIVE_FIELD
from integrations.directory_fields import AUDITED_FIELDS as AUDITED_FIELDS
from integrations.directory_fields import EMAIL_FIELD as EMAIL_FIELD
from integrations.directory_fields import MAX_LENGTHS, ContactCreate, ContactState, MirrorUser
from integrations.directory_fields import SITE_FIELD as SITE_FIELD
from integrations.directory_fields import SYNCED_FIELDS as SYNCED_FIELDS
from integrations.sync.collector import cyclic_collector_paused
from integrations.values import email_key, value_key

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
    # Policies (design.md §6.2)
    NOT_IN_SCOPE_GROUPS = "not_in_scope_groups"
    UNLICENSED = "unlicensed"
    EMAIL_HELD = "email_held_by_other_object"

    LABELS = {
        GUEST: _("Guest account"),
        DISABLED: _("Disabled account (not a mailbox)"),
        NO_EMAIL: _("No email address"),
        INVALID_EMAIL: _("Email address not usable"),
        EMPTY_VALUE: _("Office/department empty"),
        UNMAPPED: _("Office/department not mapped to a site"),
        DUPLICATE_EMAIL: _("Email shared with another directory user"),
        NOT_IN_SCOPE_GROUPS: _("Not a member of the chosen groups"),
        UNLICENSED: _("No licence (licensed users only)"),
        EMAIL_HELD: _("Email still held by a contact that follows another directory user"),
    }

    # Users who "left" for the leavers policy: disabled (not a mailbox) or out of scope.
    LEFT = frozenset({DISABLED, NOT_IN_SCOPE_GROUPS, UNLICENSED})


class FieldUpdate(NamedTuple):
    field: str
    old: str
    new: str


class ContactUpdate(NamedTuple):
    contact_id: int
    object_id: str
    email: str
    values: Mapping[str, object]  # every field to write (audited and link fields)
    changes: tuple[FieldUpdate, ...]  # the audited subset, old → new


class Divergence(NamedTuple):
    """A pinned field whose directory value differs from the contact's (kept local)."""

    contact_id: int
    email: str
    field: str
    local: str
    directory: str


KEEP, DEACTIVATE = "keep", "deactivate"
BY_EMAIL, BY_OBJECT = "email", "object"
_NO_PINS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PlanPolicy:
    """A connection's policies as plain values (design.md §6.2); the defaults are the seed's rules."""

    leavers: str = KEEP
    identity: str = BY_EMAIL
    licensed_only: bool = False
    # Object ids in the chosen groups (transitively); None: every user is in scope.
    scope_members: frozenset[str] | None = None
    portal_owned: frozenset[str] = frozenset()
    # contact id → its pinned fields (SYNCED_FIELDS names or "site")
    pinned: Mapping[int, frozenset[str]] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        return self == PlanPolicy()


DEFAULT_POLICY = PlanPolicy()


class PlanSettings(TypedDict):
    """The plan's inputs besides the mirror and the contacts (`build_plan`'s other arguments)."""

    attribute: str  # the mirror column that places users
    site_by_value: dict[str, int]
    site_names: dict[int, str]
    policy: PlanPolicy


@dataclass
class SyncPlan:
    creates: list[ContactCreate] = field(default_factory=list)
    updates: list[ContactUpdate] = field(default_factory=list)
    unchanged: int = 0
    skips: Counter[str] = field(default_factory=Counter)
    divergences: list[Divergence] = field(default_factory=list)
    # Email renames a contact could not follow: the new email belongs to another contact.
    email_conflicts: list[str] = field(default_factory=list)

    @property
    def deactivated(self) -> int:
        return sum(1 for u in self.updates for c in u.changes if c.field == ACTIVE_FIELD and c.new == "False")

    @property
    def reactivated(self) -> int:
        return sum(1 for u in self.updates for c in u.changes if c.field == ACTIVE_FIELD and c.new == "True")

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


NAME_MAX_LENGTH = MAX_LENGTHS["given_name"]  # the first name's column too
_synced_of = operator.attrgetter(*SYNCED_FIELDS.values())
# The contact's synced fields (adjacent in ContactState), compared with the directory's in one go.
_FIRST_SYNCED = ContactState._fields.index(next(iter(SYNCED_FIELDS)))
CONTACT_SYNCED = slice(_FIRST_SYNCED, _FIRST_SYNCED + len(SYNCED_FIELDS))
_contact_synced_of = operator.itemgetter(CONTACT_SYNCED)


def directory_values(user: MirrorUser) -> tuple[str, ...]:
    """The directory's values of the SYNCED_FIELDS, in their order.

    Given name and surname when Entra has either; otherwise (shared, room and
    equipment mailboxes have neither) the display name becomes the first name
    and the last name stays empty, so no contact is nameless. See README.md, "Names and mailboxes".
    """
    if not (user.given_name.strip() or user.surname.strip()):
        user = user._replace(given_name=user.display_name.strip()[:NAME_MAX_LENGTH], surname="")
    values: tuple[str, ...] = _synced_of(user)
    return values


def _looks_like_email(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    if not (at and local and "." in domain and len(email) <= EMAIL_MAX_LENGTH and " " not in email):
        return False
    # Invisible characters (zero-width, bidi marks, controls) would make contacts that
    # look identical to others and that Contact.email's own validator rejects.
    return email.isprintable()


def _contacts_by_email(contacts: Iterable[ContactState]) -> dict[str, ContactState]:
    """Email key → the contact a user with that email matches.

    Two contacts can share a key (one email typed with composed accents, one
    with decomposed: NFC and NFD). The oldest is matched, whatever order the
    database returns them in: otherwise consecutive runs could update one,
    then the other, each overwriting what the last run wrote.
    """
    by_email: dict[str, ContactState] = {}
    for contact in contacts:
        key = email_key(contact.email)
        held = by_email.setdefault(key, contact)
        if contact.id < held.id:
            by_email[key] = contact
    return by_email


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
    policy: PlanPolicy = DEFAULT_POLICY,
) -> SyncPlan:
    """Compare the mirror with the customer's contacts and return what to change.

    `attribute` is the mirror attribute that places users ("office_location"
    or "department"); `site_by_value` maps trimmed, case-folded values to site
    ids. Only users who pass every filter are candidates; among candidates
    sharing an email one deterministic winner is kept. `policy` holds the
    connection's policies (design.md §6.2).
    """
    with cyclic_collector_paused():
        return _build_plan(users, attribute, site_by_value, contacts, site_names, policy)


def _build_plan(
    users: Iterable[MirrorUser],
    attribute: str,
    site_by_value: Mapping[str, int],
    contacts: Iterable[ContactState],
    site_names: Mapping[int, str],
    policy: PlanPolicy,
) -> SyncPlan:
    plan = SyncPlan()
    skips = plan.skips
    value_keys: dict[str, str] = {}  # raw office/department → its key: a handful of values, 100,000 users
    scoped = policy.licensed_only or policy.scope_members is not None
    # Leavers policy: object ids present in the mirror, and those that "left" (disabled, out of scope).
    present: set[str] | None = set() if policy.leavers == DEACTIVATE else None
    left: set[str] = set()

    candidates: dict[str, tuple[MirrorUser, str, int]] = {}
    for user in users:
        raw = getattr(user, attribute)
        value = value_keys.get(raw)
        if value is None:
            value = value_keys[raw] = value_key(raw)
        reason, email, site_id = _admit(user, value, site_by_value)
        if scoped and reason in (None, SkipReason.EMPTY_VALUE, SkipReason.UNMAPPED):
            reason = _scope_reason(user, policy) or reason
        if present is not None:
            present.add(user.object_id)
            if reason in SkipReason.LEFT:
                left.add(user.object_id)
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

    default_policy = policy.is_default
    if not default_policy:
        contacts = list(contacts)
    contacts_by_email = _contacts_by_email(contacts)
    matches = (
        _match_by_object(candidates, contacts, contacts_by_email, skips)
        if policy.identity == BY_OBJECT
        else None
    )
    follow_email = matches is not None
    matched_ids: set[int] = set()
    for key, (user, email, site_id) in candidates.items():
        purpose = mailbox_purpose(user)
        shared = bool(purpose)
        synced = directory_values(user)
        if matches is None:
            contact = contacts_by_email.get(key)
        elif key in matches:
            contact = matches[key]
            if contact is None:
                continue  # skipped: its email is held by a contact of another object
        else:
            contact = None
        if contact is not None and present is not None:
            matched_ids.add(contact.id)
        if contact is None:
            if policy.portal_owned:  # never written, not even on a new contact
                owned = policy.portal_owned
                synced = tuple(
                    "" if name in owned else v for name, v in zip(SYNCED_FIELDS, synced, strict=True)
                )
            plan.creates.append(
                ContactCreate._make((user.object_id, email, *synced, site_id, shared, purpose))
            )
            continue
        if (
            # The common case, compared in one go: nothing differs.
            _contact_synced_of(contact) == synced
            and contact.site_id == site_id
            and contact.azure_object_id == user.object_id
            and contact.is_shared_mailbox == shared
            and contact.mailbox_purpose == purpose
            and contact.is_active
            and (not follow_email or contact.email == email)
        ):
            plan.unchanged += 1
            continue
        if default_policy and contact.is_active:
            update = _diff(contact, user, synced, site_id, purpose, site_names)
        else:
            update = _diff_with_policy(
                contact,
                user,
                synced,
                email,
                site_id,
                purpose,
                site_names,
                policy,
                follow_email,
                contacts_by_email,
                plan,
            )
        if update is None:
            plan.unchanged += 1
        else:
            plan.updates.append(update)
    if present is not None:
        _deactivate_leavers(plan, contacts, matched_ids, present, left)
    return plan


def _scope_reason(user: MirrorUser, policy: PlanPolicy) -> str | None:
    """Why a user is outside the connection's scope, or None. An unknown licence state
    (None: not read yet) counts as licensed, so a partial mirror deactivates nobody."""
    if policy.scope_members is not None and user.object_id not in policy.scope_members:
        return SkipReason.NOT_IN_SCOPE_GROUPS
    if policy.licensed_only and user.has_license is False:
        return SkipReason.UNLICENSED
    return None


def _match_by_object(
    candidates: Mapping[str, tuple[MirrorUser, str, int]],
    contacts: Iterable[ContactState],
    contacts_by_email: Mapping[str, ContactState],
    skips: Counter[str],
) -> dict[str, ContactState | None]:
    """Identity "object": email key → the contact each candidate follows (None: skipped).

    A contact linked to the user's object id is followed first (among several,
    e.g. forks left by the email identity, the one with the user's email, else
    the oldest); otherwise the user links by email, unless that contact already
    follows another directory object that still exists: two objects never
    claim one contact. Keys absent from the result create a contact.
    """
    linked: dict[str, list[ContactState]] = {}
    for contact in contacts:
        if contact.azure_object_id:
            linked.setdefault(contact.azure_object_id, []).append(contact)
    matches: dict[str, ContactState | None] = {}
    claimed: set[int] = set()
    for key, (user, _email, _site) in candidates.items():
        followers = linked.get(user.object_id)
        if followers:
            contact = min(followers, key=lambda c: (email_key(c.email) != key, c.id))
            matches[key] = contact
            claimed.add(contact.id)
    live = {user.object_id for user, _email, _site in candidates.values()}
    for key, (user, _email, _site) in candidates.items():
        if key in matches:
            continue
        by_email = contacts_by_email.get(key)
        if by_email is None:
            continue
        owner = by_email.azure_object_id
        if by_email.id in claimed or (owner and owner != user.object_id and owner in live):
            matches[key] = None
            skips[SkipReason.EMAIL_HELD] += 1
            continue
        matches[key] = by_email
        claimed.add(by_email.id)
    return matches


def _diff_with_policy(
    contact: ContactState,
    user: MirrorUser,
    synced: tuple[str, ...],
    email: str,
    site_id: int,
    purpose: str,
    site_names: Mapping[int, str],
    policy: PlanPolicy,
    follow_email: bool,
    contacts_by_email: Mapping[str, ContactState],
    plan: SyncPlan,
) -> ContactUpdate | None:
    """`_diff` under non-default policies: portal-owned and pinned fields are left (a pinned
    one's divergence is noted), the email follows the object, and a returning user's
    contact is reactivated."""
    pinned = policy.pinned.get(contact.id, _NO_PINS)
    base = _diff(contact, user, synced, site_id, purpose, site_names)
    changes: list[FieldUpdate] = []
    values: dict[str, object] = {}
    if base is not None:
        for change in base.changes:
            if change.field in policy.portal_owned:
                continue
            if change.field in pinned:
                plan.divergences.append(
                    Divergence(contact.id, contact.email, change.field, change.old, change.new)
                )
                continue
            changes.append(change)
        audited = {change.field for change in changes}
        for column, value in base.values.items():
            name = SITE_FIELD if column == "site_id" else column
            if name in AUDITED_FIELDS and name not in audited:
                continue
            values[column] = value
    new_email = contact.email
    if follow_email and email_key(email) != email_key(contact.email):
        holder = contacts_by_email.get(email_key(email))
        if holder is None or holder.id == contact.id:
            changes.append(FieldUpdate(EMAIL_FIELD, contact.email, email))
            values[EMAIL_FIELD] = new_email = email
        else:
            plan.email_conflicts.append(email)
    if not contact.is_active:
        changes.append(FieldUpdate(ACTIVE_FIELD, "False", "True"))
        values[ACTIVE_FIELD] = True
    if not values:
        return None
    return ContactUpdate(
        contact_id=contact.id,
        object_id=user.object_id,
        email=new_email,
        values=values,
        changes=tuple(changes),
    )


def _deactivate_leavers(
    plan: SyncPlan,
    contacts: Iterable[ContactState],
    matched_ids: set[int],
    present: set[str],
    left: set[str],
) -> None:
    """Leavers "deactivate": an active contact linked to a directory object that was
    deleted, disabled (not a mailbox) or fell out of scope, and that no user matched
    this run. Portal-only contacts (never linked) are never touched (R8)."""
    for contact in contacts:
        oid = contact.azure_object_id
        if not oid or not contact.is_active or contact.id in matched_ids:
            continue
        if oid in present and oid not in left:
            continue
        plan.updates.append(
            ContactUpdate(
                contact_id=contact.id,
                object_id=oid,
                email=contact.email,
                values={ACTIVE_FIELD: False},
                changes=(FieldUpdate(ACTIVE_FIELD, "True", "False"),),
            )
        )


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
    contact: ContactState,
    user: MirrorUser,
    synced: tuple[str, ...],
    site_id: int,
    purpose: str,
    site_names: Mapping[int, str],
) -> ContactUpdate | None:
    """The fields of `contact` that differ from the directory (`synced`: its `directory_values`); None when none do."""
    changes: list[FieldUpdate] = []
    values: dict[str, object] = {}
    shared = bool(purpose)
    for contact_field, new in zip(SYNCED_FIELDS, synced, strict=True):
        old = getattr(contact, contact_field)
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
