"""The one HTTP session shape used towards Microsoft, the retry timing rules, and
small helpers that read Graph answers safely.

MSAL (login.microsoftonline.com) and the Graph client share the session so that
both honour the same CA bundle (a local simulator), User-Agent and timeouts:
one session per worker process (`shared_session`), whose pool keeps its
connections to Microsoft alive from one run and one tenant to the next.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from integrations.graph.errors import MalformedResponseError
from portal.log_redaction import redact

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
USER_AGENT = "msp-portal-entra-sync/1.0"

# Throttling: https://learn.microsoft.com/en-us/graph/throttling
MAX_RETRY_AFTER = 120.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0

_DEFAULT_PORTS = {"https": 443, "http": 80}


class MicrosoftSession(requests.Session):
    """A Session with default timeouts and a CA bundle that the environment cannot override.

    requests has no session-wide timeout, and a session's `verify` loses to
    REQUESTS_CA_BUNDLE unless it is passed per request: both are fixed here.
    """

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (CONNECT_TIMEOUT, READ_TIMEOUT)
        if kwargs.get("verify") is None and isinstance(self.verify, str):
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


def build_session() -> requests.Session:
    """A session for MSAL (`http_client=`) and Graph; no automatic retries (we own them)."""
    session = MicrosoftSession()
    session.headers["User-Agent"] = USER_AGENT
    if settings.AZURE_CA_BUNDLE:
        session.verify = settings.AZURE_CA_BUNDLE
    return session


# Connections kept alive per Microsoft host: a run's page read-ahead, its $batch
# requests (four at a time) and its early classification, plus a few spare.
POOL_CONNECTIONS = 16
_shared: dict[str, requests.Session] = {}
_shared_lock = threading.Lock()


def shared_session() -> requests.Session:
    """This process's session towards Microsoft (one per CA bundle).

    A run would otherwise open a TLS connection to Entra and another to Graph
    (a round trip or two each, against Microsoft's latency), and a worker that
    serves a thousand tenants would keep a thousand idle sockets, one per
    tenant's MSAL app. It accepts no cookies: nothing of one tenant's answers
    travels with another tenant's requests.
    """
    key = settings.AZURE_CA_BUNDLE or ""
    with _shared_lock:
        session = _shared.get(key)
        if session is None:
            session = build_session()
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_CONNECTIONS)
            session.mount("https://", adapter)
            _shared[key] = session
    return session


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (integer, fractional or HTTP date), capped.

    None means the header is absent or unreadable: the caller backs off instead.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter for the `attempt`-th retry (1-based)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempt - 1, 0))
    return random.uniform(0, ceiling)


# -- reading answers -----------------------------------------------------------------
def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the unit a bearer token may be sent to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return ("", "", None)
    return scheme, (parts.hostname or "").lower(), port


def json_object(response: requests.Response, what: str) -> dict[str, Any]:
    """The response's JSON object, or MalformedResponseError."""
    try:
        body = response.json()
    except ValueError:
        raise MalformedResponseError(
            f"{what}: the response is not JSON.", status=response.status_code
        ) from None
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"{what}: the response is not a JSON object.", status=response.status_code
        )
    return body


def json_or_none(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def error_detail(body: object) -> tuple[str, str]:
    """(code, message) of a Graph error body `{"error": {"code", "message", "innerError"}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else ""), (message if isinstance(message, str) else "")


def short_message(what: str, status: int, code: str, message: str, request_id: str | None = None) -> str:
    """A short, safe message: method and path only (never a query), code, Graph's message."""
    text = f"{what}: HTTP {status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message[:200]}"
    if request_id:
        text += f" (request-id {request_id[:64]})"
    return redact(text)
