"""Helpers for tests, e2e tests and benchmarks that drive the simulator.

    with running_simulator(users=50, consented=["contoso.com"]) as sim, override_settings(**sim.settings()):
        ...  # the portal now talks to the simulator

`sign_in()` and `consent()` play the visitor's part on the Microsoft pages
with plain HTTP, returning the URL Microsoft redirects back to.

Gotcha: requests lets the `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` environment
variables override `Session.verify`; `CASession` passes `verify` on every
call so the simulator's CA is really used (MSAL calls `session.get/post`
without `verify`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any
from urllib.parse import urlencode, urljoin

import requests

from .server import RunningSimulator, start_simulator

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


class CASession(requests.Session):
    """A session that always verifies TLS against the given CA bundle."""

    def __init__(self, ca_path: str) -> None:
        super().__init__()
        self.verify = ca_path

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("verify", self.verify)
        if kwargs["verify"] is None or kwargs["verify"] is True:
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


@contextmanager
def running_simulator(**kwargs: Any) -> Iterator[RunningSimulator]:
    """Start a simulator (defaults: 3 tenants x 50 users, any free port) and stop it afterwards."""
    sim = start_simulator(**kwargs)
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def portal_on_simulator(**kwargs: Any) -> Iterator[tuple[RunningSimulator, dict[str, str]]]:
    """A running simulator with Django settings overridden to point the portal at it."""
    from django.test import override_settings

    with running_simulator(**kwargs) as sim:
        overrides = sim.settings()
        with override_settings(**overrides):
            yield sim, overrides


def session_for(sim: RunningSimulator) -> CASession:
    return CASession(str(sim.ca_path))


def app_token(sim: RunningSimulator, tenant_id: str, session: requests.Session | None = None) -> str:
    """An app-only Graph token (client credentials); raises if the tenant has not consented."""
    session = session or session_for(sim)
    data = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "scope": GRAPH_DEFAULT_SCOPE,
    }
    response = session.post(f"{sim.base_url}/{tenant_id}/oauth2/v2.0/token", data=data)
    response.raise_for_status()
    return str(response.json()["access_token"])


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    ctx = re.search(r'name="ctx" value="([^"]+)"', html)
    if action is None or ctx is None:
        raise AssertionError(f"no Microsoft form on the page: {html[:300]}")
    return unescape(action.group(1)), {"ctx": unescape(ctx.group(1))}


def _follow(session: requests.Session, page: requests.Response, extra: dict[str, str]) -> str:
    page.raise_for_status()
    action, fields = _form(page.text)
    answer = session.post(urljoin(page.url, action), data={**fields, **extra}, allow_redirects=False)
    if answer.status_code != 302:
        raise AssertionError(f"expected a redirect, got {answer.status_code}: {answer.text[:300]}")
    return str(answer.headers["Location"])


def sign_in(session: requests.Session, authorize_url: str, login: str) -> str:
    """Open the authorize page, pick `login` (a UPN); return the redirect URL with code and state."""
    return _follow(session, session.get(authorize_url), {"login": login})


def cancel_sign_in(session: requests.Session, authorize_url: str) -> str:
    return _follow(session, session.get(authorize_url), {"cancel": "1"})


def admin_consent_url(sim: RunningSimulator, tenant: str, redirect_uri: str, state: str = "") -> str:
    params = {"client_id": sim.client_id, "scope": GRAPH_DEFAULT_SCOPE, "redirect_uri": redirect_uri}
    if state:
        params["state"] = state
    return f"{sim.base_url}/{tenant}/v2.0/adminconsent?{urlencode(params)}"


def consent(session: requests.Session, consent_url: str, tenant_id: str, *, accept: bool = True) -> str:
    """Answer the admin consent page for `tenant_id`; return the redirect URL."""
    decision = f"{'accept' if accept else 'cancel'}:{tenant_id}"
    return _follow(session, session.get(consent_url), {"decision": decision})
