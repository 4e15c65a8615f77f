"""Security groups of a simulated tenant, with nested membership, and Graph's
`GET /groups/{id}/transitiveMembers/microsoft.graph.user` (the scope policy, design.md §6.2).

Every tenant has two generated groups: "Service contract" (the users of the
first office, minus every fifth, plus the nested group) and "Service contract
- remote staff" (the users of the second office whose id ends in an even
digit). Both are deterministic, so a demo or a doc can name them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .web import Response, graph_error, graph_response

if TYPE_CHECKING:
    from .app import Simulator
    from .directory import Directory

# Reference: https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers?view=graph-rest-1.0
MEMBER_READ = frozenset(
    {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "GroupMember.ReadWrite.All"}
)
DENIED = "Insufficient privileges to complete the operation."
MAX_TOP = 999
DEFAULT_TOP = 100


@dataclass
class SimGroup:
    """A group: members are user ids or ids of other groups (nested)."""

    id: str
    displayName: str
    members: set[str] = field(default_factory=set)


def group_id(tenant_id: str, name: str) -> str:
    return str(uuid.uuid5(uuid.UUID(tenant_id), f"group:{name}"))


def groups_of(directory: Directory) -> dict[str, SimGroup]:
    """The tenant's groups, generated on first use (kept on the directory)."""
    groups = directory.__dict__.get("_groups")
    if groups is None:
        groups = directory.__dict__["_groups"] = _generated(directory)
    return groups


def _generated(directory: Directory) -> dict[str, SimGroup]:
    spec = directory.spec
    offices = [office.strip().lower() for office in spec.offices[:2]]
    remote = SimGroup(group_id(spec.id, "remote"), "Service contract - remote staff")
    contract = SimGroup(group_id(spec.id, "contract"), "Service contract", {remote.id})
    for number, user in enumerate(directory.snapshot()):
        office = (user.officeLocation or "").strip().lower()
        if offices and office == offices[0] and number % 5:
            contract.members.add(user.id)
        elif len(offices) > 1 and office == offices[1] and user.id[-1] in "02468ace":
            remote.members.add(user.id)
    return {contract.id: contract, remote.id: remote}


def transitive_users(directory: Directory, start: str) -> list[str]:
    """Ids of the users in `start` and in every group nested in it (cycles are harmless)."""
    groups = groups_of(directory)
    seen: set[str] = set()
    pending = [start]
    users: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for member in groups[current].members:
            if member in groups:
                pending.append(member)
            elif member in directory.users:
                users.add(member)
    return sorted(users)


def route(
    sim: Simulator, directory: Directory, permissions: frozenset[str], parts: list[str], query: dict
) -> Response:
    """`/groups` (a listing of id and name) and `/groups/{id}/transitiveMembers/microsoft.graph.user`."""
    if not permissions & MEMBER_READ:
        return graph_error(403, "Authorization_RequestDenied", DENIED)
    groups = groups_of(directory)
    if parts == ["groups"]:
        value = [{"id": g.id, "displayName": g.displayName} for g in groups.values()]
        return _json(
            {"@odata.context": f"{sim.base_url}/v1.0/$metadata#groups(id,displayName)", "value": value}
        )
    if len(parts) != 4 or parts[2] != "transitiveMembers" or parts[3] != "microsoft.graph.user":
        return graph_error(
            400, "Request_UnsupportedQuery", "Only transitiveMembers/microsoft.graph.user is simulated."
        )
    if parts[1] not in groups:
        return graph_error(404, "Request_ResourceNotFound", f"Resource '{parts[1]}' does not exist.")
    try:
        top = min(int(query.get("$top", DEFAULT_TOP)), MAX_TOP)
        offset = int(query.get("$skiptoken", "0"))
    except ValueError:
        return graph_error(400, "Request_BadRequest", "Invalid $top or $skiptoken.")
    if top < 1 or offset < 0:
        return graph_error(400, "Request_BadRequest", "Invalid $top or $skiptoken.")
    ids = transitive_users(directory, parts[1])
    body: dict = {
        "@odata.context": f"{sim.base_url}/v1.0/$metadata#users(id)",
        "value": [{"@odata.type": "#microsoft.graph.user", "id": oid} for oid in ids[offset : offset + top]],
    }
    if offset + top < len(ids):
        body["@odata.nextLink"] = (
            f"{sim.base_url}/v1.0/groups/{parts[1]}/transitiveMembers/microsoft.graph.user"
            f"?$select=id&$top={top}&$skiptoken={offset + top}"
        )
    return _json(body)


def _json(body: dict) -> Response:
    return graph_response(200, json.dumps(body).encode())


def set_members(directory: Directory, group: str, members: list[str], *, name: str = "") -> SimGroup:
    """Create or replace a group's members (users or groups): the `set_group` op."""
    groups = groups_of(directory)
    existing = groups.get(group)
    if existing is None:
        existing = groups[group] = SimGroup(group, name or group)
    existing.members = set(members)
    if name:
        existing.displayName = name
    return existing
