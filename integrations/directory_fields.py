"""The synced directory record's shape, declared once (docs/design.md section 5).

Each attribute the sync reads from Microsoft Graph is one `SyncedField` in
`FIELDS`: its Graph property, its name on `GraphUser` and as a mirror column,
the contact field it feeds, its maximum length and its label. Every list the
sync works with is derived from it by `RecordShape`: the `$select`, the
parser's table, the mirror's columns, the contact columns the sync writes and
the audit labels. Adding a synced attribute is one line here, then the typed
records and models `tests/integrations/test_directory_fields.py` names.

No import from the sync or the models: both import this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# How Graph sends a property, and so how it is parsed and stored.
ID, TEXT, FLAG, LICENSES = "id", "text", "flag", "licenses"  # LICENSES: a list, stored as "has any"

# The identity and link columns besides the synced attributes.
OBJECT_ID_LENGTH = 36
PURPOSE = "purpose"  # mirror column filled by the mailbox classification, not read with the user
SITE_FIELD = "site"  # audited as the site's name; written as the contact's site_id
EMAIL_FIELD, ACTIVE_FIELD = "email", "is_active"
LINK_COLUMNS = ("azure_object_id", "is_shared_mailbox", "mailbox_purpose")  # kept current, not audited


@dataclass(frozen=True)
class SyncedField:
    """One attribute of a directory user the sync reads.

    `contact_field`, when set, is a contact field the sync owns (R7): written
    from this attribute and audited (R16) under `label`.
    """

    graph: str  # the Graph property, as in `$select`
    attribute: str  # the GraphUser attribute and the mirror column
    kind: str = TEXT
    max_length: int = 0  # TEXT: the mirror column's size (Microsoft's documented limit)
    contact_field: str = ""
    label: Promise | str = ""
    repeats: bool = False  # few distinct values across users (offices, titles): shared in memory


FIELDS: tuple[SyncedField, ...] = (
    SyncedField("id", "object_id", ID, OBJECT_ID_LENGTH),
    SyncedField("displayName", "display_name", max_length=256),
    SyncedField("givenName", "given_name", max_length=64, contact_field="first_name", label=_("First name")),
    SyncedField("surname", "surname", max_length=64, contact_field="last_name", label=_("Last name")),
    SyncedField(
        "jobTitle", "job_title", max_length=128, contact_field="job_title", label=_("Job title"), repeats=True
    ),
    SyncedField(
        "mobilePhone", "mobile_phone", max_length=64, contact_field="mobile_phone", label=_("Mobile phone")
    ),
    SyncedField("mail", "mail", max_length=320),
    SyncedField("userPrincipalName", "user_principal_name", max_length=320),
    SyncedField("officeLocation", "office_location", max_length=128, repeats=True),
    SyncedField("department", "department", max_length=64, repeats=True),
    SyncedField("accountEnabled", "account_enabled", FLAG),
    SyncedField("userType", "user_type", max_length=20, repeats=True),
    SyncedField("assignedLicenses", "has_license", LICENSES),
)


class RecordShape:
    """Every list the sync needs, derived from one declaration of synced fields."""

    def __init__(self, fields: Iterable[SyncedField]) -> None:
        self.fields = tuple(fields)
        texts = [f for f in self.fields if f.kind == TEXT]
        synced = [f for f in self.fields if f.contact_field]
        # Graph: the `$select`, and Graph property → GraphUser attribute.
        self.graph_attributes = {f.graph: f.attribute for f in self.fields}
        self.select = ",".join(self.graph_attributes)
        # The mirror: text and flag columns, a row as `mirror.write_page` writes it, and as the plan reads it.
        self.max_lengths = {f.attribute: f.max_length for f in texts}
        self.text_attributes = tuple(f.attribute for f in texts)
        self.flag_attributes = tuple(f.attribute for f in self.fields if f.kind in (FLAG, LICENSES))
        self.mirror_row_columns = ("object_id", *self.text_attributes, *self.flag_attributes, "removed")
        self.mirror_user_fields = (*(f.attribute for f in self.fields), PURPOSE)
        self.repeating = frozenset({*(f.attribute for f in self.fields if f.repeats), PURPOSE})
        # Contacts: the fields the sync owns (contact field → mirror attribute), those audited, their labels.
        self.synced_fields = {f.contact_field: f.attribute for f in synced}
        self.audited_fields = (*self.synced_fields, SITE_FIELD)
        self.labels = {f.contact_field: f.label for f in synced}
        # The contact columns the sync inserts (a `ContactCreate` row, its object id as the link) and updates.
        self.new_contact_columns = (
            "azure_object_id",
            EMAIL_FIELD,
            *self.synced_fields,
            "site_id",
            "is_shared_mailbox",
            "mailbox_purpose",
        )
        self.updatable_contact_columns = (
            *self.synced_fields,
            "site_id",
            *LINK_COLUMNS,
            ACTIVE_FIELD,  # the leavers policy (design.md §6.2)
            EMAIL_FIELD,  # identity "object": the contact follows its directory object's renames
        )


SHAPE = RecordShape(FIELDS)
MAX_LENGTHS = SHAPE.max_lengths
SYNCED_FIELDS = SHAPE.synced_fields
AUDITED_FIELDS = SHAPE.audited_fields


# -- the typed records built from these columns (named tuples: 100,000 per run) --------
class MirrorUser(NamedTuple):
    """What the plan needs of one mirrored directory user.

    A named tuple, not a dataclass: 100,000 of them are built per run, and a
    tuple is built several times faster. Its fields are the mirror's columns,
    `directory_fields.SHAPE.mirror_user_fields` (a test checks they agree).
    """

    object_id: str
    display_name: str = ""
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


class ContactState(NamedTuple):
    """What the plan needs of one existing contact of the customer (fields are its columns;
    the synced fields follow each other, in SYNCED_FIELDS order)."""

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
    is_active: bool = True


class ContactCreate(NamedTuple):
    """A contact to insert: a row of `SHAPE.new_contact_columns` (object_id is its link)."""

    object_id: str
    email: str
    first_name: str
    last_name: str
    job_title: str
    mobile_phone: str
    site_id: int
    is_shared_mailbox: bool
    mailbox_purpose: str = ""
