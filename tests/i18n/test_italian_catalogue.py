"""The Italian catalogue is complete, reviewed (nothing fuzzy), keeps every
placeholder, and the compiled .mo that Django loads is the .po as it is now."""

from __future__ import annotations

import ast
import re

from tests.i18n.catalogue import (
    CONTEXT_SEPARATOR,
    GETTEXT_FUNCTIONS,
    ROOT,
    SOURCE_DIRS,
    key,
    mo_catalog,
    po_file,
    po_keys,
    python_keys,
    template_keys,
)

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdr]|\{\}|%[sd]")
TAG = re.compile(r"</?[a-z]+(?: [^>]*)?>")


def test_every_italian_entry_is_translated_and_not_fuzzy():
    po = po_file()

    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]

    assert untranslated == [], f"untranslated in locale/it: {untranslated}"
    assert fuzzy == [], f"fuzzy (unreviewed) in locale/it: {fuzzy}"
    assert po.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"


def test_every_translation_keeps_the_placeholders_and_markup_of_its_original():
    for entry in po_file():
        originals = [entry.msgid, entry.msgid_plural] if entry.msgid_plural else [entry.msgid]
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        expected = sorted(set(PLACEHOLDER.findall(" ".join(originals))))
        for translation in translations:
            assert sorted(set(PLACEHOLDER.findall(translation))) == expected, entry.msgid
            assert sorted(TAG.findall(translation)) == sorted(TAG.findall(entry.msgid)), entry.msgid


def test_the_compiled_catalogue_is_the_po_file_as_it_is_now():
    """django.mo is committed (CI has no msgfmt); this fails when the .po changed without recompiling."""
    compiled = mo_catalog()
    expected = {}
    for entry in po_file().translated_entries():
        message = key(entry.msgid, entry.msgctxt)
        if entry.msgid_plural:
            for index, text in entry.msgstr_plural.items():
                expected[(message, int(index))] = text
        else:
            expected[message] = entry.msgstr

    compiled.pop("", None)  # the header
    assert compiled == expected, (
        "locale/it/LC_MESSAGES/django.mo is stale: run `python manage.py compilemessages`"
    )


def test_every_string_marked_in_the_code_is_in_the_italian_catalogue():
    """A new {% translate %} or gettext() without `makemessages -l it` (and a translation) fails here."""
    catalogue = po_keys()
    marked = {**python_keys(), **template_keys()}

    missing = {
        message.replace(CONTEXT_SEPARATOR, " | "): str(path)
        for message, path in marked.items()
        if message not in catalogue
    }

    assert missing == {}, "run `python manage.py makemessages -l it` and translate: " + repr(missing)


def test_the_extraction_sees_the_strings_of_templates_and_python():
    """Guards the test above: an extractor that found nothing would pass it."""
    templates, python = template_keys(), python_keys()

    assert "Recent runs" in templates
    assert "%(counter)s contact" in templates  # a blocktranslate with a plural
    assert key("of", "progress: 5 of 10") in templates  # a translate with a context
    assert "Hello," in templates  # an e-mail (.txt) template
    assert "Healthy" in python  # a model choice
    assert key("reading the directory", "sync phase") in python


def test_translation_functions_are_imported_under_names_makemessages_extracts():
    """`gettext_noop as N_` compiles and runs, but makemessages never sees its strings."""
    extracted = set(GETTEXT_FUNCTIONS)
    aliases = []
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                    aliases += [(str(path), name.asname) for name in node.names if name.asname]

    assert [(path, alias) for path, alias in aliases if alias not in extracted] == []
