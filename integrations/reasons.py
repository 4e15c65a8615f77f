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
# values it names, `{"message": msgid, "params": {...}}`; a value may itself be a message.
Message = str | dict[str, Any]
# A note about one directory record: whose (its object id, or its place in a page) and what.
RECORD_NOTE = "%(user)s: %(note)s"


def message(msgid: str, **params: object) -> Message:
    """`msgid` (marked with `gettext_noop`) and its values, stored to be shown later in the
    reader's language by `shown`."""
    return {"message": msgid, "params": params} if params else msgid


def shown(stored: Message) -> str:
    """A stored message in the active language (text stored before messages had values: as it is)."""
    if isinstance(stored, dict):
        return translated(str(stored.get("message") or ""), stored.get("params"))
    return translated(stored)


def translated(msgid: str, params: Mapping[str, object] | None = None) -> str:
    """`msgid` in the active language with `params` put in; a value that is itself a
    stored message (a run's error) is translated too. Text that is no message id
    (a redacted Microsoft message) comes back as it is."""
    if not msgid:
        return ""
    if not params:
        return gettext(msgid)
    values = {name: _translated_value(value) for name, value in params.items()}
    for text in (gettext(msgid), msgid):  # a translation that lost a placeholder: the English
        try:
            return text % values
        except (KeyError, TypeError, ValueError):
            continue
    return msgid  # a stored text that does not match its values: shown as it is, never an error


def _translated_value(value: object) -> object:
    if isinstance(value, dict):
        return shown(value)
    # gettext("") would return the catalogue's header.
    return gettext(value) if isinstance(value, str) and value else value
