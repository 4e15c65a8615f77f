"""How audit rows read: human field labels, and a created contact's initial values.

A "created" row stores the values the contact was created with as JSON in
`new_value` (rows written before that stored only the email, still shown as is).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from django.utils.translation import gettext, gettext_lazy

from integrations.directory_fields import ACTIVE_FIELD, EMAIL_FIELD, SHAPE, SITE_FIELD
from portal.customers.models import Contact

FIELD_LABELS = {
    "created": gettext_lazy("Created"),
    EMAIL_FIELD: gettext_lazy("Email"),
    **SHAPE.labels,
    SITE_FIELD: gettext_lazy("Site"),
    "mailbox": gettext_lazy("Mailbox"),
    ACTIVE_FIELD: gettext_lazy("Active"),
    "deleted": gettext_lazy("Deleted by an undo"),
}
MAILBOX_LABELS = dict(Contact.MailboxPurpose.choices)
# Order in which a created contact's values are shown.
INITIAL_FIELDS = (EMAIL_FIELD, *SHAPE.synced_fields, SITE_FIELD, "mailbox")


def field_label(field: str) -> str:
    label = FIELD_LABELS.get(field)
    return str(label) if label is not None else field.replace("_", " ").capitalize()


_encode = json.JSONEncoder(ensure_ascii=False).encode
_KEY_PREFIXES = {key: f"{encode_basestring(key)}: " for key in INITIAL_FIELDS}


def initial_values_json(values: dict[str, Any]) -> str:
    """What a "created" row stores: the non-empty initial values, in a stable order.

    The JSON `json.dumps(..., ensure_ascii=False)` writes, built from the C string
    encoder directly when every value is text (a 100,000-user import writes as
    many of these): the encoder object costs more than the few strings it encodes.
    """
    present = [(key, value) for key in INITIAL_FIELDS if (value := values.get(key))]
    if all(type(value) is str for _, value in present):
        return (
            "{" + ", ".join([_KEY_PREFIXES[key] + encode_basestring(value) for key, value in present]) + "}"
        )
    return _encode(dict(present))


def initial_values(new_value: str, *, with_email: bool = True) -> list[tuple[str, str]]:
    """(label, value) pairs of a created contact; an old row's bare email is one pair.

    Pages that show the contact's email in a column of their own pass `with_email=False`.
    """
    try:
        stored = json.loads(new_value)
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        return [(field_label("email"), new_value)] if new_value and with_email else []
    keys = INITIAL_FIELDS if with_email else INITIAL_FIELDS[1:]
    return [(field_label(key), _shown(key, stored[key])) for key in keys if stored.get(key)]


def _shown(key: str, value: object) -> str:
    if key == "mailbox":
        return str(MAILBOX_LABELS.get(str(value), value))
    return str(value)


def initial_values_text(new_value: str) -> str:
    """One line for the CSV: "Email: a@b.com; First name: Ada; Site: Milan"."""
    return "; ".join(
        gettext("%(label)s: %(value)s") % {"label": label, "value": value}
        for label, value in initial_values(new_value)
    )
