"""Typed records parsed at the Graph boundary; raw dicts never travel inward."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from integrations.directory_fields import SHAPE
from integrations.reasons import Message

# Graph property name -> GraphUser attribute, for every property the sync selects.
USER_PROPERTIES: dict[str, str] = SHAPE.graph_attributes
SELECT = SHAPE.select


class GraphUser(NamedTuple):
    """One user object from `/users` or `/users/delta`.

    `present` names the GraphUser attributes the record actually carried: a
    delta page sends only changed properties, and an absent property must not
    overwrite the mirror (whereas a present `null` clears it). The attributes
    are those of `directory_fields.FIELDS` (a test checks they agree).
    A named tuple, like `MirrorUser`: one is built per user read, and the frozen
    dataclass it was set each field through `object.__setattr__` (0.25 s per
    100,000 against 0.05 s, docs/performance.md).
    """

    object_id: str
    present: frozenset[str]
    removed: bool = False
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    mobile_phone: str | None = None
    mail: str | None = None
    user_principal_name: str | None = None
    office_location: str | None = None
    department: str | None = None
    account_enabled: bool | None = None
    user_type: str | None = None
    has_license: bool | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of users. Exactly one of `next_link` / `delta_link` is set on
    delta pages; `problems` lists records that were dropped and why."""

    users: tuple[GraphUser, ...]
    next_link: str | None = None
    delta_link: str | None = None
    problems: tuple[Message, ...] = field(default_factory=tuple)  # shown by `reasons.shown`


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An app-only token held in memory only, with the claims we check."""

    token: str = field(repr=False)
    tenant_id: str
    roles: frozenset[str]
    expires_at: float
