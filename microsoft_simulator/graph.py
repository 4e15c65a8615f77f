"""Microsoft Graph endpoints the portal uses, with Graph's permissions and errors.

Every request needs a bearer token this simulator signed; the tenant comes
from its `tid`. Listing and reading users needs User.Read.All (app role or
delegated scope), mailbox settings need MailboxSettings.Read, and
`/organization` needs Organization.Read.All for app-only tokens (a delegated
User.Read token may read it), exactly as documented for real Graph.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import jwt

from . import groups
from .directory import Directory
from .paging import DeltaToken, Snapshot, decode_skiptoken, project, render_page
from .tenants import DEFAULT_SELECT, GRAPH_PROPERTIES
from .web import Request, Response, graph_error, graph_response

if TYPE_CHECKING:
    from .app import Simulator

USER_READ = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
MAILBOX_READ = frozenset({"MailboxSettings.Read", "MailboxSettings.ReadWrite"})
ORG_READ = frozenset({"Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All"})
UNSUPPORTED = ("$filter", "$search", "$orderby", "$expand")
_CANONICAL = {name.lower(): name for name in GRAPH_PROPERTIES}
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
DENIED = "Insufficient privileges to complete the operation."


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the tenant from the token and what the token allows."""

    directory: Directory
    permissions: frozenset[str]
    app_only: bool


def handle(sim: Simulator, req: Request) -> Response:
    caller = _authenticate(sim, req.header("Authorization"))
    if isinstance(caller, Response):
        return caller
    sub = req.path[len("/v1.0") :] or "/"
    if sub == "/$batch":
        if req.method != "POST":
            return graph_error(405, "Request_BadRequest", "The $batch endpoint only accepts POST.")
        return _batch(sim, req, caller)
    if req.method != "GET":
        return graph_error(403, "Authorization_RequestDenied", DENIED)
    return route(sim, caller, sub, req.query, req.header("Prefer"))


def _unauthorized(message: str) -> Response:
    return graph_error(
        401, "InvalidAuthenticationToken", message, headers=[("WWW-Authenticate", WWW_AUTHENTICATE)]
    )


def _authenticate(sim: Simulator, header: str) -> Caller | Response:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("Access token is empty.")
    try:
        claims = sim.signer.verify_graph_token(token.strip())
    except jwt.ExpiredSignatureError:
        return _unauthorized("Lifetime validation failed, the token is expired.")
    except jwt.InvalidTokenError:
        return _unauthorized("Access token validation failure. Invalid audience or signature.")
    directory = sim.state.directories.get(str(claims.get("tid", "")))
    if directory is None:
        return _unauthorized("Access token validation failure. Unknown tenant.")
    app_only = claims.get("idtyp") == "app"
    if app_only and sim.state.roles_for(directory.spec.id) is None:
        # The tenant removed the app after the token was issued: its service principal is gone.
        # Reference: https://learn.microsoft.com/en-us/graph/errors
        return graph_error(
            401,
            "Authorization_IdentityNotFound",
            "The identity of the calling application could not be established.",
            headers=[("WWW-Authenticate", WWW_AUTHENTICATE)],
        )
    permissions = (
        frozenset(claims.get("roles") or ()) if app_only else frozenset(str(claims.get("scp", "")).split())
    )
    return Caller(directory, permissions, app_only)


def route(sim: Simulator, caller: Caller, sub: str, query: dict[str, str], prefer: str = "") -> Response:
    """Answer one GET (top-level or inside a $batch)."""
    parts = [p for p in sub.split("/") if p]
    # System query options are case-insensitive ($deltaToken, $deltatoken).
    query = {(k.lower() if k.startswith("$") else k): v for k, v in query.items()}
    if parts == ["organization"]:
        return _organization(sim, caller, query)
    if parts and parts[0] == "groups":  # the scope policy (groups.py)
        return groups.route(sim, caller.directory, caller.permissions, parts, query)
    if not parts or parts[0] != "users":
        return graph_error(
            400, "BadRequest", f"Resource not found for the segment '{parts[0] if parts else ''}'."
        )
    if len(parts) >= 3 and parts[2] == "mailboxSettings":
        return _mailbox(sim, caller, parts[1], parts[3:])
    if not (caller.permissions & USER_READ):
        return graph_error(403, "Authorization_RequestDenied", DENIED)
    for option in UNSUPPORTED:
        if option in query:
            return graph_error(400, "Request_UnsupportedQuery", f"Unsupported query option '{option}'.")
    if len(parts) == 1:
        return _list_users(sim, caller, query)
    if parts == ["users", "delta"]:
        return _delta(sim, caller, query, prefer)
    if len(parts) == 2:
        return _get_user(sim, caller, parts[1], query)
    return graph_error(400, "BadRequest", f"Resource not found for the segment '{parts[2]}'.")


def _select(raw: str | None) -> tuple[str, ...] | Response:
    names = DEFAULT_SELECT if raw is None else [n.strip() for n in raw.split(",") if n.strip()]
    selected: list[str] = []
    for name in names:
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            text = f"Could not find a property named '{name}' on type 'microsoft.graph.user'."
            return graph_error(400, "Request_BadRequest", text)
        if canonical not in selected:
            selected.append(canonical)
    if "id" not in selected:
        selected.insert(0, "id")
    return tuple(selected)


def _page_size(
    sim: Simulator, query: dict[str, str], prefer: str, fallback: int | None = None
) -> int | Response:
    raw = query.get("$top")
    if raw is None and "odata.maxpagesize=" in prefer:
        raw = prefer.split("odata.maxpagesize=", 1)[1].split(",")[0].split(";")[0].strip()
    if raw is None:
        return fallback or sim.state.knobs.knobs.default_page_size
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= 999:
        text = f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
        return graph_error(400, "Request_UnsupportedQuery", text)
    return size


def _page(sim: Simulator, snapshot: Snapshot, offset: int, *, prefer: str = "") -> Response:
    headers = []
    if "odata.maxpagesize=" in prefer:
        headers.append(("Preference-Applied", f"odata.maxpagesize={snapshot.page_size}"))
    return graph_response(200, render_page(snapshot, offset, base_url=sim.base_url), headers=headers)


def _list_users(sim: Simulator, caller: Caller, query: dict[str, str]) -> Response:
    tid = caller.directory.spec.id
    if "$skiptoken" in query:
        snapshot, offset = _resume(sim, query["$skiptoken"], tid, "users")
        if snapshot is None or _page_token_fault(sim):
            return _expired_page_token()
        return _page(sim, snapshot, offset)
    select = _select(query.get("$select"))
    if isinstance(select, Response):
        return select
    size = _page_size(sim, query, "")
    if isinstance(size, Response):
        return size
    with sim.state.lock:
        items = caller.directory.snapshot()
        version, generation = caller.directory.version, caller.directory.generation
    snapshot = sim.state.snapshots.put(
        tenant_id=tid,
        kind="users",
        items=items,
        select=select,
        page_size=size,
        version=version,
        generation=generation,
    )
    return _page(sim, snapshot, 0)


def _resume(sim: Simulator, token: str, tenant_id: str, kind: str) -> tuple[Snapshot | None, int]:
    try:
        snapshot_id, offset = decode_skiptoken(token)
    except ValueError:
        return None, 0
    snapshot = sim.state.snapshots.get(snapshot_id)
    if snapshot is None or snapshot.tenant_id != tenant_id or snapshot.kind != kind:
        return None, 0
    return snapshot, offset


def _page_token_fault(sim: Simulator) -> bool:
    fault, _ = sim.state.knobs.pick_fault("/v1.0/users", top_level=True, names=("expired_page_token",))
    return bool(fault)


def _expired_page_token() -> Response:
    # Reference: https://learn.microsoft.com/en-us/graph/paging (a next link is short-lived)
    text = "The specified page token value has expired and can no longer be included in your request."
    return graph_error(400, "Directory_ExpiredPageToken", text)


def _expired(sim: Simulator) -> Response:
    if sim.state.knobs.knobs.delta_expired_status == 410:
        return graph_error(410, "resyncRequired", "The delta token has expired. Resync is required.")
    return graph_error(400, "syncStateNotFound", "The sync state generation is not found or has expired.")


def _delta(sim: Simulator, caller: Caller, query: dict[str, str], prefer: str) -> Response:
    directory = caller.directory
    tid = directory.spec.id
    if "$skiptoken" in query:
        snapshot, offset = _resume(sim, query["$skiptoken"], tid, "delta")
        if snapshot is None or snapshot.generation != directory.generation:
            return _expired(sim)
        if _page_token_fault(sim):
            return _expired_page_token()
        return _page(sim, snapshot, offset)
    raw_token = query.get("$deltatoken")
    # Delta pages hold what Microsoft chooses (about 200 users), whatever $top or
    # odata.maxpagesize ask: $top is documented as not supported on user delta.
    # Reference: https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0
    size = max(1, int(sim.state.knobs.knobs.delta_page_size))
    # Default shape: every selected property of a changed user; `return=minimal`: only the changed ones.
    minimal = "return=minimal" in prefer.replace(" ", "").lower()
    if raw_token is None or raw_token == "latest":
        select = _select(query.get("$select"))
        if isinstance(select, Response):
            return select
        with sim.state.lock:
            items: tuple[Any, ...] = () if raw_token == "latest" else directory.snapshot()
            version, generation = directory.version, directory.generation
    else:
        try:
            token = DeltaToken.decode(raw_token)
        except ValueError:
            return _expired(sim)
        knobs = sim.state.knobs.knobs
        too_old = time.time() - token.issued_at > knobs.delta_expiry_seconds
        if token.tenant_id != tid or token.generation != directory.generation or too_old:
            return _expired(sim)
        select = token.select
        wanted = frozenset(select)
        with sim.state.lock:
            changes = directory.changes_since(token.version)
            version, generation = directory.version, directory.generation
        # A user whose changes touch no selected property is not reported, as in Graph.
        items = tuple(c for c in changes if c.props is None or c.user is None or c.props & wanted)
    snapshot = sim.state.snapshots.put(
        tenant_id=tid,
        kind="delta",
        items=items,
        select=select,
        page_size=size,
        version=version,
        generation=generation,
        minimal=minimal,
    )
    return _page(sim, snapshot, 0)


def _get_user(sim: Simulator, caller: Caller, key: str, query: dict[str, str]) -> Response:
    select = _select(query.get("$select"))
    if isinstance(select, Response):
        return select
    user = caller.directory.find(key)
    if user is None:
        return _not_found(key)
    body = {"@odata.context": f"{sim.base_url}/v1.0/$metadata#users({','.join(select)})/$entity"}
    body.update(project(user, select))
    return graph_response(200, json.dumps(body, ensure_ascii=False).encode())


def _not_found(key: str) -> Response:
    text = (
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
    )
    return graph_error(404, "Request_ResourceNotFound", text)


def _mailbox(sim: Simulator, caller: Caller, key: str, rest: list[str]) -> Response:
    if not (caller.permissions & MAILBOX_READ):
        return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    user = caller.directory.find(key)
    if user is None:
        return _not_found(key)
    knobs = sim.state.knobs.knobs
    if user.id in knobs.mailbox_denied or user.userPrincipalName in knobs.mailbox_denied:
        # An Exchange application access policy that leaves this mailbox out of the app's scope.
        return graph_error(403, "ErrorAccessDenied", "Access to OData is disabled.")
    if user.purpose is None or user.id in knobs.mailbox_missing:
        text = "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
        return graph_error(404, "MailboxNotEnabledForRESTAPI", text)
    context = f"{sim.base_url}/v1.0/$metadata#users('{user.id}')/mailboxSettings"
    if rest == ["userPurpose"]:
        body: dict[str, Any] = {"@odata.context": f"{context}/userPurpose", "value": user.purpose}
    elif not rest:
        body = {
            "@odata.context": context,
            "timeZone": "W. Europe Standard Time",
            "language": {"locale": user.preferredLanguage or "en-US"},
            "userPurpose": user.purpose,
            "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        }
    else:
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{rest[0]}'.")
    return graph_response(200, json.dumps(body).encode())


def _organization(sim: Simulator, caller: Caller, query: dict[str, str]) -> Response:
    if caller.app_only and not (caller.permissions & ORG_READ):
        return graph_error(403, "Authorization_RequestDenied", DENIED)
    spec = caller.directory.spec
    org = {
        "id": spec.id,
        "displayName": spec.name,
        "tenantType": "AAD",
        "countryLetterCode": "IT",
        "verifiedDomains": [
            {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True, "isInitial": False,
             "name": spec.domain, "type": "Managed"},
            {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": False, "isInitial": True,
             "name": spec.initial_domain, "type": "Managed"},
        ],
    }  # fmt: skip
    if query.get("$select"):
        wanted = {n.strip() for n in query["$select"].split(",")} | {"id"}
        org = {k: v for k, v in org.items() if k in wanted}
    body = {"@odata.context": f"{sim.base_url}/v1.0/$metadata#organization", "value": [org]}
    return graph_response(200, json.dumps(body).encode())


def _batch(sim: Simulator, req: Request, caller: Caller) -> Response:
    try:
        payload = req.json()
        requests = payload["requests"]
        ids = [str(item["id"]) for item in requests]
    except (ValueError, KeyError, TypeError):
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > 20:
        return graph_error(400, "BadRequest", "Number of requests in the batch exceeds the limit of 20.")
    if len(set(ids)) != len(ids):
        return graph_error(400, "BadRequest", "Batch request contains duplicate request ids.")
    responses = [_batch_item(sim, caller, item) for item in requests]
    if sim.state.knobs.knobs.batch_shuffle:
        random.shuffle(responses)
    return graph_response(200, json.dumps({"responses": responses}, ensure_ascii=False).encode())


def _batch_item(sim: Simulator, caller: Caller, item: dict[str, Any]) -> dict[str, Any]:
    url = str(item.get("url", ""))
    parts = urlsplit(url if url.startswith("/") else f"/{url}")
    path = parts.path.removeprefix("/v1.0")
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    fault, rule = sim.state.knobs.pick_fault(
        path, top_level=False, names=("throttle", "unavailable", "gateway_timeout")
    )
    if fault:
        response = sim.fault_response(fault, rule, graph=True)
    elif str(item.get("method", "GET")).upper() != "GET":
        response = graph_error(403, "Authorization_RequestDenied", DENIED)
    else:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        response = route(sim, caller, path, query, headers.get("Prefer", headers.get("prefer", "")))
    out_headers = {"Content-Type": "application/json"}
    out_headers.update(
        {k: v for k, v in response.headers if k.lower() in ("retry-after", "preference-applied")}
    )
    return {
        "id": str(item["id"]),
        "status": response.status,
        "headers": out_headers,
        "body": json.loads(response.body),
    }
