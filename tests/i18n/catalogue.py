"""Reading the Italian catalogue and the strings the code marks for translation,
without GNU gettext (CI machines do not have it): polib for the .po, the
standard library for the .mo, Django's own `templatize` for templates."""

from __future__ import annotations

import ast
import gettext
import re
from collections.abc import Iterator
from pathlib import Path

import polib
from django.conf import settings
from django.utils.translation.template import templatize

ROOT = Path(settings.BASE_DIR)
PO_PATH = ROOT / "locale" / "it" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
# What `makemessages` reads (see README.md, Languages): the product, not the
# development simulator, the tests or the benchmark.
SOURCE_DIRS = ("portal", "integrations")
TEMPLATE_DIR = ROOT / "templates"

# Message keys as gettext stores them: "context\x04msgid".
CONTEXT_SEPARATOR = "\x04"

GETTEXT_FUNCTIONS = {
    # name: (index of the context argument or None, index of the message)
    "_": (None, 0),
    "gettext": (None, 0),
    "gettext_lazy": (None, 0),
    "gettext_noop": (None, 0),
    "ngettext": (None, 0),
    "ngettext_lazy": (None, 0),
    "pgettext": (0, 1),
    "pgettext_lazy": (0, 1),
    "npgettext": (0, 1),
    "npgettext_lazy": (0, 1),
}


def key(msgid: str, context: str | None = None) -> str:
    return f"{context}{CONTEXT_SEPARATOR}{msgid}" if context else msgid


def po_file() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def po_keys() -> set[str]:
    return {key(entry.msgid, entry.msgctxt) for entry in po_file() if not entry.obsolete}


def mo_catalog() -> dict:
    with MO_PATH.open("rb") as handle:
        return gettext.GNUTranslations(handle)._catalog


def _calls(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT_FUNCTIONS:
            continue
        context_index, message_index = GETTEXT_FUNCTIONS[name]
        args = node.args
        if len(args) <= message_index or not _is_text(args[message_index]):
            continue
        context = (
            args[context_index].value if context_index is not None and _is_text(args[context_index]) else None
        )
        yield key(args[message_index].value, context)


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def python_keys() -> dict[str, Path]:
    """Every literal message marked in the product's Python code, with a file that has it."""
    found = {}
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for message in _calls(ast.parse(path.read_text(encoding="utf-8"))):
                found.setdefault(message, path)
    return found


_TEMPLATIZED_CALL = re.compile(r"\b(n?p?gettext)\(")


def template_keys() -> dict[str, Path]:
    """Every message of the templates, as `makemessages` sees them (Django's templatize)."""
    found = {}
    # makemessages reads .html and .txt (the e-mails) templates.
    for path in sorted([*TEMPLATE_DIR.rglob("*.html"), *TEMPLATE_DIR.rglob("*.txt")]):
        code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
        for match in _TEMPLATIZED_CALL.finditer(code):
            call = _balanced_call(code, match.start())
            tree = ast.parse(call, mode="eval")
            for message in _calls(tree):
                found.setdefault(message, path)
    return found


def _balanced_call(code: str, start: int) -> str:
    """The text of the call starting at `start`, up to its closing parenthesis (strings respected)."""
    depth, index, quote = 0, code.index("(", start), None
    while True:
        char = code[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return code[start : index + 1]
        index += 1
