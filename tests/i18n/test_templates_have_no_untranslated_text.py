"""A heuristic guard for templates: after removing what is translated
({% translate %}, {% blocktranslate %}), template code, markup, styles and
scripts, no words may be left, neither as text nor in the attributes people
read (title, placeholder, aria-label, alt, a button's value)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.i18n.catalogue import TEMPLATE_DIR

REMOVED_BLOCKS = [
    re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.S),
    re.compile(r"\{#.*?#\}", re.S),
    re.compile(r"<(style|script)\b.*?</\1>", re.S | re.I),
    re.compile(r"\{%\s*blocktrans(?:late)?\b.*?\{%\s*endblocktrans(?:late)?\s*%\}", re.S),
    re.compile(r"\{%\s*trans(?:late)?\s.*?%\}", re.S),
    # The admin's CSS class names of the <body>.
    re.compile(r"\{%\s*block bodyclass\s*%\}.*?\{%\s*endblock\s*%\}", re.S),
]
TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
READ_ATTRIBUTES = re.compile(r"""\b(title|placeholder|aria-label|alt)\s*=\s*("[^"]*"|'[^']*')""", re.I)
BUTTON_VALUE = re.compile(r"""<input\b[^>]*\btype=["'](?:submit|button)["'][^>]*>""", re.I)
VALUE = re.compile(r"""\bvalue\s*=\s*("[^"]*"|'[^']*')""", re.I)
TAGS = re.compile(r"<[^>]*>", re.S)
ENTITIES = re.compile(r"&[#\w]+;")
# Example domains (placeholder="contoso.com") are the same in every language.
DOMAINS = re.compile(r"\b[\w-]+(?:\.[\w-]+)+\b")
WORD = re.compile(r"[^\W\d_]{2,}")

TEMPLATES = sorted(TEMPLATE_DIR.rglob("*.html"))


def untranslated_words(source: str) -> list[str]:
    for pattern in REMOVED_BLOCKS:
        source = pattern.sub(" ", source)
    words = []
    readable = [value for _name, value in READ_ATTRIBUTES.findall(source)]
    readable += [value for tag in BUTTON_VALUE.findall(source) for value in VALUE.findall(tag)]
    for value in readable:
        words += WORD.findall(DOMAINS.sub(" ", TEMPLATE_CODE.sub(" ", value)))
    text = ENTITIES.sub(" ", TAGS.sub(" ", TEMPLATE_CODE.sub(" ", source)))
    return words + WORD.findall(text)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(TEMPLATE_DIR)))
def test_template_shows_no_text_outside_translate_tags(path: Path):
    assert untranslated_words(path.read_text(encoding="utf-8")) == []


def test_the_heuristic_finds_plain_text_and_readable_attributes():
    """Guards the test above: it must flag what a user would read untranslated."""
    assert untranslated_words("<p>Hello {{ name }}</p>") == ["Hello"]
    assert untranslated_words('<input placeholder="Search here" value="{{ q }}">') == ["Search", "here"]
    assert untranslated_words('<input type="submit" value="Send">') == ["Send"]
    assert untranslated_words('<input placeholder="contoso.com">') == []
    assert untranslated_words('<a title="{% translate "Home" %}">{% translate "Home" %}</a>') == []
    assert (
        untranslated_words("{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}<style>a{b:c}</style>") == []
    )
    assert TEMPLATES, "no templates found"
