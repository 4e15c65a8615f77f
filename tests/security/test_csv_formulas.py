"""CSV exports neutralise every cell a spreadsheet could evaluate as a formula
(OWASP CSV injection): leading = + - @ tab CR, also after leading blanks of any
kind, in full-width form, and on any line of a multi-line cell."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from integrations.models import AzureConnection, FieldChange, SyncRun
from portal.csv_cells import safe_cell

RISKY = {
    "equals": "=1+1",
    "plus": "+1+1",
    "minus": "-1+1",
    "at": "@SUM(A1)",
    "tab": "\t=1+1",
    "carriage return": "\rcmd",
    "space then equals": '  =HYPERLINK("http://evil.example")',
    "tab then equals": "\t =1",
    "nbsp then equals": "\u00a0=1+1",
    "ideographic space then plus": "\u3000+1",
    "thin space then at": "\u2009@SUM(A1)",
    "zero-width space then equals": "\u200b=1+1",
    "bom then equals": "\ufeff=1+1",
    "full-width equals": "\uff1d1+1",
    "full-width plus": "\uff0b1",
    "full-width minus": "\uff0d1",
    "full-width at": "\uff20SUM(A1)",
    "small equals": "\ufe661+1",
    "minus sign": "\u22121+1",
}
MULTI_LINE = {
    "newline then equals": ("Head of Sales\n=1+1", "Head of Sales\n'=1+1"),
    "crlf then plus": ("a\r\n+1", "a\r\n'+1"),
    "newline, spaces, full-width at": ("a\n  \uff20x", "a\n'  \uff20x"),
    "line separator then minus": ("a\u2028-1", "a\u2028'-1"),
    "starts with a newline": ("\n=1", "'\n'=1"),
    "starts with a carriage return": ("\r=1", "'\r'=1"),
}
HARMLESS = ["Ada Lovelace", "ada@contoso.com", "Head of R&D", "1+1", "a=b", "", "  plain", "x\ny"]


@pytest.mark.parametrize("value", RISKY.values(), ids=RISKY.keys())
def test_a_risky_cell_starts_with_an_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(("value", "expected"), MULTI_LINE.values(), ids=MULTI_LINE.keys())
def test_every_risky_line_of_a_multi_line_cell_is_neutralised(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_cells_are_unchanged(value):
    assert safe_cell(value) == value


def test_the_audit_csv_neutralises_directory_values(client, customer_admin, customer, contact):
    connection = AzureConnection.objects.create(customer=customer, tenant_id="t-1", tenant_name="Contoso")
    run = SyncRun.objects.create(customer=customer, connection=connection, tenant_id="t-1", trigger="manual")
    values = [*RISKY.values(), *(value for value, _ in MULTI_LINE.values())]
    for value in values:
        FieldChange.objects.create(
            run=run, customer=customer, contact=contact, contact_email=contact.email,
            field="job_title", old_value=value, new_value="ok",
        )  # fmt: skip
    client.force_login(customer_admin)

    response = client.get(reverse("integrations:audit_csv", args=[customer.pk]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")

    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    exported = sorted(row["old_value"] for row in rows)
    assert exported == sorted(safe_cell(value) for value in values)
    assert len(rows) == len(values)
