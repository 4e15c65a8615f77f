"""Group scope (design.md §6.2): read the chosen groups' members into the database,
so the plan (and every preview) reads them without a Microsoft call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from django.db import transaction

from integrations.models import AzureConnection, ScopeGroupMember


class GroupReader(Protocol):
    def iter_group_user_ids(self, group_id: str) -> Iterator[str]: ...


def refresh_scope_members(
    connection: AzureConnection,
    client: GroupReader,
    *,
    groups: list[str] | None = None,
    guard: Callable[[], None] = lambda: None,
) -> int:
    """Replace the stored members of the connection's scope groups; returns how many users are in scope.

    Read completely before anything is written: a listing that fails half-way
    leaves the previous members in place (and fails the run), never a short list
    that would put everyone else out of scope.
    """
    groups = list(connection.scope_groups or []) if groups is None else groups
    members: dict[str, set[str]] = {}
    for group_id in groups:
        members[group_id] = set(client.iter_group_user_ids(group_id))
        guard()
    with transaction.atomic():
        guard()
        ScopeGroupMember.objects.filter(connection=connection).delete()
        ScopeGroupMember.objects.bulk_create(
            [
                ScopeGroupMember(connection=connection, group_id=group_id, object_id=object_id)
                for group_id, ids in members.items()
                for object_id in ids
            ],
            batch_size=2000,
        )
    return len(set().union(*members.values())) if members else 0
