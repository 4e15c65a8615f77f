"""Stored messages shown in the reader's language.

Runs and connections store what happened as the English message id (marked
with `gettext_noop`), and the values it names apart, so a page, an e-mail or
the admin shows it in its reader's language, not in the language of whoever
happened to trigger the run.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext


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
    # gettext("") would return the catalogue's header.
    return gettext(value) if isinstance(value, str) and value else value
