"""One session towards Microsoft per worker process (issue 20): every run and every
tenant reuse its kept-alive connections, and it carries no cookie between tenants."""

from __future__ import annotations

import responses

from integrations.graph import http, tokens
from integrations.graph.client import GraphClient
from tests.integrations.graph_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPH,
    LOGIN,
    TENANT,
    TokenRecorder,
    add_discovery,
    token_body,
    token_url,
)


def test_graph_clients_of_different_tenants_and_msal_share_one_session(settings, monkeypatch):
    settings.AZURE_CLIENT_ID, settings.AZURE_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.AZURE_CLIENT_CERTIFICATE_PATH = ""
    settings.AZURE_AUTHORITY_HOST = LOGIN
    settings.AZURE_CA_BUNDLE = ""
    tokens._apps.clear()
    first = GraphClient(TENANT, token_getter=TokenRecorder())
    second = GraphClient("11111111-2222-3333-4444-555555555555", token_getter=TokenRecorder())

    assert first._session is second._session is http.shared_session()
    session = http.shared_session()
    sent: list[str] = []
    original = session.request

    def counted(method, url, *args, **kwargs):
        sent.append(url)
        return original(method, url, *args, **kwargs)

    monkeypatch.setattr(session, "request", counted)
    with responses.RequestsMock() as rsps:
        add_discovery(rsps)
        rsps.post(token_url(), json=token_body())
        tokens.get_app_token(TENANT)

        assert sent and len(sent) == len(rsps.calls)  # discovery and token, through the shared session


def test_a_different_ca_bundle_gets_its_own_session(settings, tmp_path):
    settings.AZURE_CA_BUNDLE = ""
    default = http.shared_session()
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    settings.AZURE_CA_BUNDLE = str(bundle)

    assert http.shared_session() is not default
    assert http.shared_session().verify == str(bundle)


def test_the_shared_session_keeps_no_cookie_from_one_answer_for_the_next(settings):
    settings.AZURE_CA_BUNDLE = ""
    session = http.shared_session()
    with responses.RequestsMock() as rsps:
        # Entra sets cookies on its answers (fpc, x-ms-gateway-slice): none may travel on.
        rsps.get(f"{GRAPH}/organization", json={"value": []}, headers={"Set-Cookie": "fpc=abc; Path=/"})
        rsps.get(f"{GRAPH}/users", json={"value": []})
        session.get(f"{GRAPH}/organization")
        session.get(f"{GRAPH}/users")

        assert "Cookie" not in rsps.calls[1].request.headers
    assert len(session.cookies) == 0
