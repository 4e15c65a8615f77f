"""Stored messages shown in the reader's language.

Runs and connections store what happened as the English message id (marked
with `gettext_noop`), and the values it names apart, so a page, an e-mail or
the admin shows it in its reader's language, not in the language of whoever
happened to trigger the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

# A message as runs store it (their warnings): its English id alone, or the id with the
# values it names, `{"message": msgid, "params": {...}}`. A value is data (a count, a
# field's name, an object id), shown as it is, or itself a message, shown translated.
Message = str | dict[str, Any]
# A note about one directory record: whose (its object id, or its place in a page) and what.
RECORD_NOTE = "%(user)s: %(note)s"


def message(msgid: str, **params: object) -> Message:
    """`msgid` (marked with `gettext_noop`) and its values, stored to be shown later in the
    reader's language by `shown`."""
    return {"message": msgid, "params": params} if params else msgid


def term(msgid: str) -> dict[str, Any]:
    """A word used as another message's value that is to be translated too (`message` would
    store it as plain text, which a value is not: data is shown as it is)."""
    return {"message": msgid, "params": {}}


def shown(stored: object) -> str:
    """A stored message in the active language. Text stored before messages had values, or
    anything else a row holds, is shown as it is: never an error, never an empty line."""
    if isinstance(stored, dict) and isinstance(stored.get("message"), str):
        params = stored.get("params")
        values = (
            {name: shown(value) if isinstance(value, dict) else value for name, value in params.items()}
            if isinstance(params, dict)
            else {}
        )
        return _formatted(stored["message"], values)
    return translated(stored) if isinstance(stored, str) else str(stored)


def translated(msgid: str, params: Mapping[str, object] | None = None) -> str:
    """`msgid` in the active language with `params` put in; a value that is itself a
    stored message (a run's error) is translated too. Text that is no message id
    (a redacted Microsoft message) comes back as it is."""
    return _formatted(msgid, {name: _translated_value(value) for name, value in (params or {}).items()})


def _formatted(msgid: str, values: Mapping[str, object]) -> str:
    if not msgid or not values:
        return gettext(msgid) if msgid else ""
    for text in (gettext(msgid), msgid):  # a translation that lost a placeholder: the English
        try:
            return text % values
        except (KeyError, TypeError, ValueError):
            continue
    return msgid  # a stored text that does not match its values: shown as it is, never an error


def _translated_value(value: object) -> object:
    # gettext("") would return the catalogue's header.
    return gettext(value) if isinstance(value, str) and value else value
