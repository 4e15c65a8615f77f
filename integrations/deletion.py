"""Deleting a connection waits for the mirror page being written, so none is left behind.

The mirror's key to its connection has no database constraint (design.md §8):
checking it for each of 100,000 rows at commit was a tenth of a large
import. Django still deletes a connection's mirror rows (`on_delete=CASCADE`,
one `DELETE ... WHERE connection_id IN (...)`). What the constraint also did
was refuse a page committed between that DELETE and the connection's own.
Every page is written in a transaction that first renews the run's lease, an
UPDATE of the connection's row, so locking that row before the deletion
starts orders the two: a page being written commits first and its rows are
deleted with the rest; a page that starts later finds the row gone, its lease
lost, and writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from integrations.models import AzureConnection


def lock_before_delete(sender: type[AzureConnection], instance: AzureConnection, **kwargs: Any) -> None:
    """`pre_delete`: Django sends it inside the deletion's transaction, before any row is deleted."""
    rows = AzureConnection.objects.using(kwargs.get("using") or DEFAULT_DB_ALIAS).filter(pk=instance.pk)
    list(rows.select_for_update().values_list("pk", flat=True))
