"""The simulator's own admin API, protected by a random key printed at start.

    GET  /_simulator/state                 tenants, consents, knobs
    GET  /_simulator/knobs                 current knobs
    POST /_simulator/knobs    {...}        change knobs (partial, dotted keys allowed)
    POST /_simulator/ops      {op}|[ops]   run tenant mutations (see `state.OPS`)
    GET  /_simulator/users?tenant=&q=&limit=   find users to mutate
    GET  /_simulator/requests?limit=       recent requests served (method, path, status)

Send the key as `X-Simulator-Key: <key>` (or `Authorization: Bearer <key>`).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from .web import Request, Response, json_response

if TYPE_CHECKING:
    from .app import Simulator


def handle(sim: Simulator, req: Request) -> Response:
    supplied = req.header("X-Simulator-Key") or req.header("Authorization").removeprefix("Bearer ").strip()
    if not supplied or not hmac.compare_digest(supplied.encode(), sim.admin_key.encode()):
        return json_response(401, {"error": "missing or wrong X-Simulator-Key"})
    route = (req.method, req.path.rstrip("/"))
    try:
        if route == ("GET", "/_simulator/state"):
            return json_response(200, sim.state.summary())
        if route == ("GET", "/_simulator/knobs"):
            return json_response(200, sim.state.knobs.as_dict())
        if route == ("POST", "/_simulator/knobs"):
            return json_response(200, sim.state.apply({"op": "set_knobs", "knobs": _object(req)}))
        if route == ("POST", "/_simulator/ops"):
            payload = req.json()
            ops = payload if isinstance(payload, list) else [payload]
            return json_response(200, {"results": [sim.state.apply(dict(op)) for op in ops]})
        if route == ("GET", "/_simulator/users"):
            return json_response(200, _users(sim, req.query))
        if route == ("GET", "/_simulator/requests"):
            limit = int(req.query.get("limit", "200"))
            records = list(sim.state.requests)[-limit:]
            return json_response(200, {"requests": [[r.at, r.method, r.path, r.status] for r in records]})
    except (KeyError, ValueError, TypeError) as exc:
        return json_response(400, {"error": str(exc).strip("'\"")})
    return json_response(404, {"error": f"no admin route {req.method} {req.path}"})


def _object(req: Request) -> dict[str, Any]:
    payload = req.json()
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object")
    return payload


def _users(sim: Simulator, query: dict[str, str]) -> dict[str, Any]:
    directory = sim.state.tenant(query.get("tenant", ""))
    if directory is None:
        raise KeyError(f"unknown tenant {query.get('tenant')!r}")
    needle = query.get("q", "").lower()
    limit = int(query.get("limit", "20"))
    found = []
    with sim.state.lock:
        users = list(directory.users.values())
    for user in users:
        haystack = f"{user.displayName} {user.userPrincipalName} {user.mail} {user.officeLocation}".lower()
        if needle in haystack:
            found.append(user._asdict())
            if len(found) >= limit:
                break
    return {"tenant": directory.spec.id, "users": found}
