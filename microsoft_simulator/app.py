"""The simulator as one request -> response function, independent of the HTTP server.

Routing order: the admin API (`/_simulator/...`), then added latency and the
fault knobs, then Graph (`/v1.0/...`) or the identity platform
(`/{tenant}/...`). Each request is logged without its query or body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape

from . import admin, graph, identity
from .knobs import FAULT_STATUS, FaultRule
from .state import RequestRecord, SimulatorState
from .tokens import Signer
from .web import Request, Response, aad_error, graph_error, html_response, json_response

SERVER_FAULTS = ("throttle", "unavailable", "gateway_timeout")
_GRAPH_FAULT_CODES = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
_GRAPH_FAULT_TEXT = {
    429: "Too many requests. Retry after the time in the Retry-After header.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "The gateway timed out. Please retry later.",
}


@dataclass
class Simulator:
    """State, signing key and public address: everything a handler needs."""

    base_url: str
    state: SimulatorState
    signer: Signer
    admin_key: str
    # Where a browser reaches the sign-in and consent pages (plain HTTP on loopback, no
    # certificate warning); empty: at base_url like everything else.
    browser_base_url: str = ""

    def handle(self, req: Request) -> Response:
        started = time.time()
        response = admin.handle(self, req) if req.path.startswith("/_simulator") else self._serve(req)
        first = req.path.split("/")[1] if req.path.count("/") > 1 else ""
        tenant = "" if first in ("v1.0", "_simulator") else first  # identity URLs start with the tenant
        self.state.log_request(RequestRecord(started, req.method, req.path, response.status, tenant))
        return response

    def _serve(self, req: Request) -> Response:
        box = self.state.knobs
        latency = box.knobs.latency_ms
        if latency > 0:
            time.sleep(latency / 1000)
        is_graph = req.path == "/v1.0" or req.path.startswith("/v1.0/")
        fault, rule = box.pick_fault(req.path, top_level=True, names=SERVER_FAULTS)
        if fault:
            return self.fault_response(fault, rule, graph=is_graph)
        if is_graph:
            response = graph.handle(self, req)
        elif req.path in ("", "/"):
            response = self._index()
        else:
            found = identity.handle(self, req)
            response = found if found is not None else json_response(404, {"error": "not_found"})
        if response.status == 200 and (response.header("Content-Type") or "").startswith("application/json"):
            fault, _ = box.pick_fault(req.path, top_level=True, names=("malformed",))
            if fault:
                response.body = response.body[: max(1, len(response.body) // 2)]
        return response

    def fault_response(self, fault: str, rule: FaultRule, *, graph: bool) -> Response:
        status = FAULT_STATUS[fault]
        headers = [("Retry-After", rule.retry_after)] if rule.retry_after else []
        if graph:
            return graph_error(status, _GRAPH_FAULT_CODES[status], _GRAPH_FAULT_TEXT[status], headers=headers)
        text = "A transient error has occurred. Please try again."
        return aad_error(status, "temporarily_unavailable", 90033, text, headers=headers)

    def _index(self) -> Response:
        rows = []
        for item in self.state.summary()["tenants"]:
            consent = ", ".join(item["consent"]["roles"]) if item["consent"] else "not consented"
            rows.append(
                f"<li><b>{escape(item['name'])}</b> <small>{item['id']} · {item['users']} users · "
                f"admin {escape(item['admin']['upn'])} · {escape(consent)}</small></li>"
            )
        body = (
            f"<p>Identity platform at <code>{escape(self.base_url)}</code>, Graph at "
            f"<code>{escape(self.base_url)}/v1.0</code>.</p><ul>{''.join(rows)}</ul>"
        )
        return html_response(200, "Microsoft simulator", body)
