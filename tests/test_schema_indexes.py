"""Every index of the portal's tables earns its keep: none repeats the leading
columns of another, which would only slow the sync's bulk writes."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

APPS = ("customers", "integrations")


def _indexes(table: str) -> dict[str, tuple[str | None, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: tuple(details["columns"])
        for name, details in constraints.items()
        if details["index"] or details["unique"] or details["primary_key"]
    }


def test_no_index_repeats_the_leading_columns_of_another():
    redundant = []
    for model in (m for label in APPS for m in apps.get_app_config(label).get_models()):
        indexes = _indexes(model._meta.db_table)
        for name, columns in indexes.items():
            for other, other_columns in indexes.items():
                longer = len(other_columns) > len(columns)
                if other != name and longer and other_columns[: len(columns)] == columns:
                    redundant.append(f"{model._meta.label}: {name} {columns} is a prefix of {other}")
    assert not redundant, redundant


def test_the_keys_the_portal_filters_on_lead_an_index():
    wanted = {
        "customers_contact": {"customer_id", "site_id"},
        "integrations_fieldchange": {"customer_id", "run_id", "contact_id"},
        "integrations_directoryuser": {"connection_id"},
    }
    for table, keys in wanted.items():
        leading = {columns[0] for columns in _indexes(table).values() if columns}
        assert keys <= leading, (table, keys - leading)
