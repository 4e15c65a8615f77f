"""The CSV exports' shared parts: streaming rows, and spreadsheet formula
neutralisation (CSV injection). Used by the audit log and the activity log.

Streaming: Django's "Streaming large CSV files" recipe
(https://docs.djangoproject.com/en/5.2/howto/outputting-csv/#streaming-large-csv-files).

Formula neutralisation:

Reference: https://owasp.org/www-community/attacks/CSV_Injection
A spreadsheet may evaluate a cell that starts with = + - @, a tab or a carriage
return. Spreadsheets also skip leading spaces (including non-breaking and other
Unicode spaces, and zero-width characters), read full-width and small-form
variants (U+FF1D FULLWIDTH EQUALS SIGN, ...) as their ASCII twins, and some evaluate each line
of a multi-line cell. So every line is checked after its leading blanks, with
NFKC folding, and a risky line gets a leading apostrophe: the value stays
readable and is shown as text.
"""

from __future__ import annotations

import csv
import re
import unicodedata

TRIGGERS = frozenset("=+-@\u2212")  # U+2212 MINUS SIGN is read as a minus too
CONTROL_TRIGGERS = ("\t", "\r")
# Characters a spreadsheet ignores before a formula but str.isspace() does not know.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e"
_LINES = re.compile(r"(\r\n|\n|\r|\u2028|\u2029|\x0b|\x0c|\x85)")


class Echo:
    """A pseudo-buffer whose `write` returns the line, so a csv writer yields rows one by one."""

    def write(self, value: str) -> str:
        return value


def streaming_writer():
    """A csv writer whose `writerow` returns the row's text (for a StreamingHttpResponse)."""
    return csv.writer(Echo())


def line_is_risky(line: str) -> bool:
    if line.startswith(CONTROL_TRIGGERS):
        return True
    stripped = line.lstrip()
    while stripped and (stripped[0] in INVISIBLE or stripped[0].isspace()):
        stripped = stripped[1:]
    if not stripped:
        return False
    return unicodedata.normalize("NFKC", stripped[0])[:1] in TRIGGERS or stripped[0] in TRIGGERS


def safe_cell(value: str) -> str:
    """The value, with an apostrophe before every line a spreadsheet could evaluate."""
    if not value:
        return value
    parts = _LINES.split(value)  # text, separator, text, separator, ...
    for index in range(0, len(parts), 2):
        if line_is_risky(parts[index]):
            parts[index] = "'" + parts[index]
    if parts[0] == "":  # the cell starts with a line break (a CR is a trigger itself)
        parts[0] = "'"
    return "".join(parts)
