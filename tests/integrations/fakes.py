"""An in-memory directory that speaks the sync's client protocol.

It behaves like `/users/delta`: a first enumeration returns every user with
every property; a delta link returns only users changed since, with only the
changed properties, and `@removed` for deleted users. The HTTP side of the
same protocol is tested against the real Graph client and the simulator.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from integrations.graph.errors import DeltaExpiredError, PermissionDeniedError
from integrations.graph.models import USER_PROPERTIES, GraphUser, UserPage

_ids = itertools.count(1)


def object_id(n: int | None = None) -> str:
    n = next(_ids) if n is None else n
    return f"00000000-0000-0000-0000-{n:012d}"


class FakeDirectory:
    """A tenant's users plus a change log, for driving `run_sync` in tests."""

    def __init__(self, *, page_size: int = 3, mailbox_settings_readable: bool = True) -> None:
        self.users: dict[str, dict] = {}
        self.version = 0
        self.changes: list[
            tuple[int, str, frozenset[str] | None]
        ] = []  # (version, id, props or None=removed)
        self.page_size = page_size
        self.mailbox_settings_readable = mailbox_settings_readable
        self.purposes: dict[str, str] = {}
        self.expired_links: set[str] = set()
        self.requests: list[str] = []
        self.purpose_requests = 0
        self.fail_after_pages: int | None = None
        # The client protocol's bookkeeping (`runner.DirectoryClient`).
        self.requests_made = 0
        self.read_permission = ""

    # -- arranging the tenant ----------------------------------------------------
    def add(self, *, purpose: str = "user", **props) -> str:
        props.setdefault("id", object_id())
        defaults = {
            "displayName": f"{props.get('givenName', '')} {props.get('surname', '')}".strip(),
            "givenName": None,
            "surname": None,
            "jobTitle": None,
            "mobilePhone": None,
            "mail": None,
            "userPrincipalName": f"{props['id'][-6:]}@contoso.onmicrosoft.com",
            "officeLocation": None,
            "department": None,
            "accountEnabled": True,
            "userType": "Member",
            "assignedLicenses": [{"skuId": "sku"}],
        }
        user = {**defaults, **props}
        self.users[user["id"]] = user
        self.purposes[user["id"]] = purpose
        self._log(user["id"], frozenset(user))
        return user["id"]

    def update(self, user_id: str, **props) -> None:
        self.users[user_id].update(props)
        self._log(user_id, frozenset(props))

    def remove(self, user_id: str) -> None:
        del self.users[user_id]
        self._log(user_id, None)

    def expire_links(self) -> None:
        self.expired_links.update(f"delta:{v}" for v in range(self.version + 1))

    def _log(self, user_id: str, props: frozenset[str] | None) -> None:
        self.version += 1
        self.changes.append((self.version, user_id, props))

    # -- the client protocol ------------------------------------------------------
    def __call__(self, tenant_id: str) -> FakeDirectory:
        """Acts as the run's client factory."""
        return self

    def iter_user_delta(self, delta_link: str | None = None) -> Iterator[UserPage]:
        self.requests.append(delta_link or "full")
        if delta_link in self.expired_links:
            raise DeltaExpiredError("syncStateNotFound", code="syncStateNotFound", status=400)
        if delta_link is None:
            records = [_graph_user(user, frozenset(user)) for user in self.users.values()]
        else:
            since = int(delta_link.split(":")[1])
            records = self._changes_since(since)
        pages = [records[i : i + self.page_size] for i in range(0, len(records), self.page_size)] or [[]]
        for number, page in enumerate(pages, start=1):
            if self.fail_after_pages is not None and number > self.fail_after_pages:
                raise ConnectionAbortedError("simulated network failure in the middle of the listing")
            last = number == len(pages)
            yield UserPage(
                users=tuple(page),
                next_link=None if last else f"next:{number}",
                delta_link=f"delta:{self.version}" if last else None,
            )

    def get_mailbox_purposes(self, object_ids: Sequence[str]) -> dict[str, str]:
        self.purpose_requests += 1
        if not self.mailbox_settings_readable:
            raise PermissionDeniedError("ErrorAccessDenied", code="ErrorAccessDenied", status=403)
        return {oid: self.purposes.get(oid, "none") for oid in object_ids}

    def _changes_since(self, since: int) -> list[GraphUser]:
        changed: dict[str, frozenset[str] | None] = {}
        for version, user_id, props in self.changes:
            if version <= since:
                continue
            if props is None:
                changed[user_id] = None
            elif user_id in changed and changed[user_id] is not None:
                changed[user_id] = changed[user_id] | props
            else:
                changed[user_id] = props
        records = []
        for user_id, props in changed.items():
            if props is None or user_id not in self.users:
                records.append(GraphUser(object_id=user_id, present=frozenset({"object_id"}), removed=True))
            else:
                records.append(_graph_user(self.users[user_id], props | {"id"}))
        return records

    # -- groups (scope policy): members are user ids or other group ids (nested) ---------------
    groups: dict[str, set[str]]
    group_reads: list[str]

    def add_group(self, group_id: str, *members: str) -> str:
        self.__dict__.setdefault("groups", {})[group_id] = set(members)
        return group_id

    def iter_group_user_ids(self, group_id: str) -> Iterator[str]:
        """Users in the group, transitively, like `/groups/{id}/transitiveMembers/microsoft.graph.user`."""
        self.__dict__.setdefault("group_reads", []).append(group_id)
        groups = self.__dict__.get("groups", {})
        seen, pending, users = set(), [group_id], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            for member in groups.get(current, ()):
                (pending.append(member) if member in groups else users.add(member))
        yield from sorted(users & set(self.users))


def _graph_user(user: dict, props: frozenset[str]) -> GraphUser:
    values: dict = {}
    present = set()
    for graph_name, attribute in USER_PROPERTIES.items():
        if graph_name not in props:
            continue
        value = user.get(graph_name)
        if graph_name == "assignedLicenses":
            value = bool(value)
        values[attribute] = value
        present.add(attribute)
    values.pop("object_id", None)
    return GraphUser(object_id=user["id"], present=frozenset(present), **values)
