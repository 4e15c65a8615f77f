"""One tenant's directory: current users, soft-deleted users and a change log.

Delta queries are answered from the log: a delta token records the version it
was issued at, and `changes_since()` folds the log entries after it into what
Graph would send: full objects for users new to the caller, only the changed
properties (plus `id`) for updates, `@removed` for deletions. The log grows
with mutations only, never with the size of the tenant. Callers hold the
simulator's lock around every method here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from .catalog import TenantSpec
from .tenants import GRAPH_PROPERTIES, SimUser

_MUTABLE = frozenset(GRAPH_PROPERTIES) - {"id"} | {"purpose"}


@dataclass(frozen=True, slots=True)
class Change:
    """One log entry. `kind` is add, update or remove."""

    version: int
    user_id: str
    kind: str
    props: frozenset[str] = frozenset()
    reason: str = "changed"


@dataclass(frozen=True, slots=True)
class DeltaItem:
    """What a delta page says about one user: full record, some properties, or removal."""

    user_id: str
    user: SimUser | None  # None when removed
    props: frozenset[str] | None  # None: every selected property
    reason: str = "changed"


class Directory:
    """Users of one tenant, with versioned changes."""

    def __init__(self, spec: TenantSpec, users: list[SimUser]) -> None:
        self.spec = spec
        self.users: dict[str, SimUser] = {user.id: user for user in users}
        self.deleted: dict[str, SimUser] = {}
        self.version = 0
        self.generation = 0  # bumped to expire every delta link issued so far
        self._log: list[Change] = []
        self._log_versions: list[int] = []

    def _record(
        self, user_id: str, kind: str, props: frozenset[str] = frozenset(), reason: str = "changed"
    ) -> None:
        self.version += 1
        self._log.append(Change(self.version, user_id, kind, props, reason))
        self._log_versions.append(self.version)

    def snapshot(self) -> tuple[SimUser, ...]:
        return tuple(self.users.values())

    def find(self, key: str) -> SimUser | None:
        """A user by object id or (case-insensitive) userPrincipalName, as Graph accepts both."""
        user = self.users.get(key)
        if user is None and "@" in key:
            lowered = key.lower()
            # list() copies atomically under the GIL: safe against a concurrent mutation.
            user = next(
                (u for u in list(self.users.values()) if u.userPrincipalName.lower() == lowered), None
            )
        return user

    def add(self, user: SimUser) -> SimUser:
        if user.id in self.users or user.id in self.deleted:
            raise ValueError(f"user {user.id} already exists")
        self.users[user.id] = user
        self._record(user.id, "add")
        return user

    def update(self, user_id: str, values: dict[str, Any]) -> frozenset[str]:
        """Set properties; returns the Graph properties that really changed."""
        user = self.users.get(user_id)
        if user is None:
            raise KeyError(f"no user {user_id}")
        unknown = set(values) - _MUTABLE
        if unknown:
            raise ValueError(f"cannot set {', '.join(sorted(unknown))}")
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        changed = frozenset(k for k, v in clean.items() if getattr(user, k) != v)
        if not changed:
            return changed
        self.users[user_id] = user._replace(**clean)
        graph_changed = changed - {"purpose"}
        if graph_changed:
            self._record(user_id, "update", graph_changed)
        return graph_changed

    def remove(self, user_id: str, *, permanent: bool = False) -> SimUser:
        user = self.users.pop(user_id, None)
        if user is None:
            raise KeyError(f"no user {user_id}")
        if not permanent:
            self.deleted[user_id] = user
        self._record(user_id, "remove", reason="deleted" if permanent else "changed")
        return user

    def restore(self, user_id: str) -> SimUser:
        user = self.deleted.pop(user_id, None)
        if user is None:
            raise KeyError(f"no deleted user {user_id}")
        self.users[user_id] = user
        self._record(user_id, "add")
        return user

    def expire_delta_links(self) -> None:
        self.generation += 1

    def changes_since(self, version: int) -> list[DeltaItem]:
        """Net effect of the log after `version`, ordered by each user's last change."""
        start = bisect.bisect_right(self._log_versions, version)
        existed: dict[str, bool] = {}
        props: dict[str, set[str] | None] = {}
        reasons: dict[str, str] = {}
        order: dict[str, None] = {}
        for change in self._log[start:]:
            uid = change.user_id
            if uid not in existed:
                existed[uid] = change.kind != "add"
                props[uid] = set()
            if change.kind == "add":
                props[uid] = None  # (re)appeared: send the whole object
            elif change.kind == "update":
                current = props[uid]
                if current is not None:
                    current.update(change.props)
            else:
                reasons[uid] = change.reason
            order.pop(uid, None)
            order[uid] = None
        items: list[DeltaItem] = []
        for uid in order:
            user = self.users.get(uid)
            if user is None:
                if existed[uid]:
                    items.append(DeltaItem(uid, None, None, reasons.get(uid, "changed")))
                continue
            if not existed[uid]:
                items.append(DeltaItem(uid, user, None))
                continue
            changed = props[uid]
            items.append(DeltaItem(uid, user, None if changed is None else frozenset(changed)))
        return items
