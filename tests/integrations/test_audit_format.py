"""A created contact's audit row stores its initial values as the JSON `json.dumps` would write."""

from __future__ import annotations

import json

import pytest

from integrations.audit_format import INITIAL_FIELDS, initial_values, initial_values_json

AWKWARD = [
    'O\'Brien "the" \\ admin',
    "tab\there\nnewline\r",
    "\x01\x1f",
    "Zoë 東京 🚀",
    "\u2028\u2029",
    "</script>",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_initial_values_are_written_as_json_dumps_writes_them(text):
    values = {key: f"{key} {text}" for key in INITIAL_FIELDS}

    written = initial_values_json(values)

    assert written == json.dumps(values, ensure_ascii=False)
    assert json.loads(written) == values


def test_empty_values_are_left_out_and_the_order_is_the_display_order():
    values = {"site": "Milan", "email": "ada@contoso.com", "first_name": "", "job_title": "Analyst"}

    written = initial_values_json(values)

    assert list(json.loads(written)) == ["email", "job_title", "site"]
    assert [value for _, value in initial_values(written)] == ["ada@contoso.com", "Analyst", "Milan"]


def test_a_value_that_is_not_text_is_still_written_as_json():
    written = initial_values_json({"email": "ada@contoso.com", "mailbox": 7})

    assert json.loads(written) == {"email": "ada@contoso.com", "mailbox": 7}
