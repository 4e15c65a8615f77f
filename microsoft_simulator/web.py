"""Tiny request/response types and Microsoft's two error shapes.

The identity platform answers OAuth errors as
`{"error", "error_description": "AADSTSnnn: ...", "error_codes": [nnn], ...}`;
Graph answers `{"error": {"code", "message", "innerError": {...}}}`. Clients
parse these, so the simulator reproduces them field for field.
"""

from __future__ import annotations

import base64
import html
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

JSON_TYPE = "application/json; charset=utf-8"
GRAPH_JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


@dataclass
class Request:
    """One parsed HTTP request; `path` is percent-decoded, `query` keeps the first values."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(name)
        return default if value is None else str(value)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.header("Authorization")
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        except ValueError:
            return None
        return user, password


@dataclass
class Response:
    """Status, raw body and extra headers (Content-Type included)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def json_response(status: int, data: Any, *, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", JSON_TYPE), *(headers or [])])


def graph_response(status: int, body: bytes, *, headers: list[tuple[str, str]] | None = None) -> Response:
    request_id = str(uuid.uuid4())
    base = [("Content-Type", GRAPH_JSON_TYPE), ("request-id", request_id), ("client-request-id", request_id)]
    return Response(status, body, base + (headers or []))


def graph_error_body(code: str, message: str) -> dict[str, Any]:
    inner = {"date": now_iso(), "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
    return {"error": {"code": code, "message": message, "innerError": inner}}


def graph_error(
    status: int, code: str, message: str, *, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(graph_error_body(code, message)).encode()
    return graph_response(status, body, headers=headers)


def aad_description(code: int, text: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"AADSTS{code}: {text}\r\nTrace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}\r\nTimestamp: {stamp}"


def aad_error(
    status: int, error: str, code: int, text: str, *, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = {
        "error": error,
        "error_description": aad_description(code, text),
        "error_codes": [code],
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return json_response(status, body, headers=[("Cache-Control", "no-store"), *(headers or [])])


def redirect(location: str) -> Response:
    return Response(302, b"", [("Location", location), ("Content-Type", "text/html; charset=utf-8")])


def html_response(status: int, title: str, body_html: str) -> Response:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:"Segoe UI",system-ui,sans-serif;background:#f2f2f2;margin:0}}
main{{max-width:440px;margin:48px auto;background:#fff;padding:32px 40px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}
h1{{font-size:24px;font-weight:600;margin:8px 0 16px}} .brand{{color:#737373;font-size:14px}}
button{{display:block;width:100%;text-align:left;padding:12px;margin:8px 0;border:1px solid #ccc;
background:#fff;cursor:pointer;font-size:15px}} button:hover{{background:#f0f0f0}}
button.primary{{background:#0067b8;color:#fff;text-align:center;border:0}}
small{{color:#555;display:block}} .error{{color:#a80000}} ul{{padding-left:20px}}
</style></head><body><main><div class="brand">Microsoft (simulated)</div>
<h1>{html.escape(title)}</h1>{body_html}</main></body></html>"""
    return Response(
        status,
        page.encode(),
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
        ],
    )
