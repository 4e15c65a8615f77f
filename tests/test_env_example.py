""".env.example documents every variable the settings read, and sets none
to a value that could be a real secret."""

from __future__ import annotations

import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SETTINGS = (BASE_DIR / "portal" / "settings.py").read_text()
EXAMPLE = (BASE_DIR / ".env.example").read_text()


def test_every_variable_read_by_the_settings_is_documented():
    read = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", SETTINGS))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", EXAMPLE, flags=re.MULTILINE))

    assert read, "no env() call found in settings"
    assert read - documented == set()


def test_it_sets_no_secret():
    for line in EXAMPLE.splitlines():
        match = re.match(r"^#?\s*(SECRET_KEY|AZURE_CLIENT_SECRET)=(.*)$", line)
        if match:
            assert match.group(2) in ("", "change-me-to-64-random-characters"), line
