"""How directory values are cleaned before they are stored, and how they compare.

Graph is the source of truth, but a value that cannot be stored as it is (a
NUL byte, which PostgreSQL rejects, or a value longer than its column) must
not fail the whole run: it is cleaned for that record and noted.
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext_noop

from integrations.directory_fields import MAX_LENGTHS
from integrations.reasons import Message, message


def clean_text(field: str, value: object) -> tuple[str, Message | None]:
    """Return the storable value and, if it had to be changed, why (a message shown in the reader's language).

    None becomes "" (Entra's empty value clears the field, R7); anything else
    is kept exactly as it came, unicode intact, unless it cannot be stored.
    """
    if value is None:
        return "", None
    if not isinstance(value, str):
        return "", message(gettext_noop("%(field)s was not text and was ignored"), field=field)
    note = None
    if "\x00" in value:
        value = value.replace("\x00", "")
        note = message(gettext_noop("%(field)s contained a NUL byte, which was removed"), field=field)
    limit = MAX_LENGTHS.get(field)
    if limit is not None and len(value) > limit:
        value = _truncate(value, limit)
        note = message(
            gettext_noop("%(field)s was longer than %(limit)d characters and was shortened"),
            field=field,
            limit=limit,
        )
    return value, note


def _truncate(value: str, limit: int) -> str:
    """Cut at `limit` characters without leaving a dangling combining mark."""
    cut = value[:limit]
    while cut and unicodedata.combining(cut[-1]) and len(cut) == limit:
        cut = cut[:-1]
    return cut


def email_key(email: str) -> str:
    """How emails compare (R6): case-insensitively, surrounding spaces ignored, and
    the same whether its accents were sent composed (NFC) or decomposed (NFD)."""
    key = email.strip().lower()
    return key if key.isascii() else unicodedata.normalize("NFC", key)


def value_key(value: str | None) -> str:
    """How office/department values compare (R4): trimmed, case-insensitive."""
    return (value or "").strip().casefold()
