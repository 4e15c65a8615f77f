"""Item 7: no token, code or secret anywhere, after connect + sync + failures.

A customer admin connects through the real MSAL code paths (Microsoft on
`responses`), the tenant is mapped and synced, then syncs fail in the ways
most likely to carry a secret into a message: Graph echoing the bearer token
in its error, Entra echoing the client secret, an unexpected exception whose
text holds the token. Every logger runs at DEBUG through the portal's log
filter. Then the logs, every run error and warning, the admin and portal
pages, the CSV export and a dump of every table (sessions decoded) are
searched for each secret and for each part of each token.
"""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import parse_qs

import pytest
import responses
from django.apps import apps
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from integrations.graph import tokens
from integrations.graph.client import GraphClient
from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from integrations.sync.runner import default_client_factory, run_sync
from portal.customers.models import Site
from portal.log_redaction import RedactSecretsFilter
from tests.conftest import make_user
from tests.integrations.graph_helpers import CLIENT_SECRET, GRAPH, LOGIN, TENANT, graph_error
from tests.integrations.microsoft_responses import AUTH_CODE
from tests.integrations.test_consent_flow import consent_callback, sign_in
from tests.reliability.figures import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]

LOGGERS = (
    "",
    "django",
    "django.request",
    "django.server",
    "django.db.backends",
    "msal",
    "urllib3",
    "requests",
    "integrations",
)


@pytest.fixture
def debug_log():
    """Every logger at DEBUG, written through the portal's redacting filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setLevel(logging.DEBUG)
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in ("", "django", "django.server"):  # "django" does not propagate to the root
        logging.getLogger(name).addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    for name in ("", "django", "django.server"):
        logging.getLogger(name).removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_no_secret_reaches_logs_runs_pages_exports_or_any_table(customer, microsoft, debug_log):
    admin = make_user("secret-admin", customer=customer, role="admin")
    staff = make_user("secret-staff", is_staff=True, is_superuser=True)
    verifiers = _capture_code_verifiers(microsoft)
    client = Client()
    client.force_login(admin)

    # Connect, map and sync.
    query = sign_in(client, customer, microsoft)
    assert (
        consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"]).status_code == 302
    )
    connection = AzureConnection.objects.get(customer=customer)
    site = Site.objects.create(customer=customer, name="Milan")
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    ok = run_sync(connection, trigger=SyncRun.Trigger.INITIAL)
    assert ok.status == SyncRun.Status.SUCCEEDED, ok.error
    microsoft.users[0]["jobTitle"] = "Changed"

    failures = [
        _graph_echoes_the_token(connection, microsoft, status=500),
        _graph_echoes_the_token(connection, microsoft, status=401),
        _entra_echoes_the_secret(connection, microsoft),
        _exception_holds_the_token(connection),
    ]
    assert all(run.status == SyncRun.Status.FAILED for run in failures), [
        (r.status, r.error) for r in failures
    ]

    secrets = _secrets(microsoft, verifiers)
    places = {
        "log": debug_log.getvalue(),
        "runs": _run_texts(),
        "portal": _portal_pages(client, customer, [ok, *failures]),
        "admin": _admin_pages(staff, connection, [ok, *failures]),
        "csv": _csv(client, customer),
        "database": _dump_every_table(),
    }
    # The secrets really were in the messages: redaction, not luck, kept them out.
    assert "Sync run" in places["log"] and "Traceback" in places["log"]
    assert "[redacted]" in places["log"] and "[redacted]" in places["runs"]
    leaks = [
        (name, where) for name, secret in secrets.items() for where, text in places.items() if secret in text
    ]
    assert not leaks, leaks
    record(
        "secrets",
        secrets_checked=len(secrets),
        places=sorted(places),
        characters_scanned=sum(len(text) for text in places.values()),
        failed_runs=len(failures),
        leaks=0,
    )


def _capture_code_verifiers(microsoft) -> list[str]:
    verifiers: list[str] = []
    redeem = microsoft._redeem_code

    def answer(request):
        verifiers.extend(parse_qs(request.body).get("code_verifier", []))
        return redeem(request)

    url = f"{LOGIN}/organizations/oauth2/v2.0/token"
    microsoft.rsps.remove(responses.POST, url)
    microsoft.rsps.add_callback(responses.POST, url, callback=answer)
    return verifiers


def _graph_echoes_the_token(connection, microsoft, *, status: int) -> SyncRun:
    """A proxy or a Graph bug echoes the Authorization header in the error message."""

    def echo(request):
        text = f"Token rejected: {request.headers.get('Authorization')} for {request.url}"
        return (
            status,
            {"request-id": request.headers.get("Authorization", "")},
            json.dumps(graph_error("Bad", text)),
        )

    url = f"{GRAPH}/users/delta"
    microsoft.rsps.remove(responses.GET, url)
    microsoft.rsps.add_callback(responses.GET, url, callback=echo)
    try:
        return run_sync(connection, trigger=SyncRun.Trigger.MANUAL, client_factory=_no_waiting)
    finally:
        microsoft.rsps.remove(responses.GET, url)
        microsoft.rsps.add_callback(responses.GET, url, callback=microsoft._delta)


def _no_waiting(tenant_id: str) -> GraphClient:
    return GraphClient(tenant_id, sleep=lambda seconds: None)


def _entra_echoes_the_secret(connection, microsoft) -> SyncRun:
    """Entra refuses the client credential and quotes the request back."""

    def refuse(request):
        description = f"AADSTS7000215: Invalid client secret provided: {request.body}"
        body = {"error": "invalid_client", "error_description": description, "error_codes": [7000215]}
        return 401, {}, json.dumps(body)

    url = f"{LOGIN}/{TENANT}/oauth2/v2.0/token"
    microsoft.rsps.remove(responses.POST, url)
    microsoft.rsps.add_callback(responses.POST, url, callback=refuse)
    tokens.reset_token_cache()
    try:
        return run_sync(connection, trigger=SyncRun.Trigger.MANUAL)
    finally:
        microsoft.rsps.remove(responses.POST, url)
        microsoft.rsps.add_callback(responses.POST, url, callback=microsoft._app_token)
        tokens.reset_token_cache()


def _exception_holds_the_token(connection) -> SyncRun:
    """An unexpected error whose message (and traceback) holds the access token."""

    def factory(tenant_id: str):
        client = default_client_factory(tenant_id)
        token = client._current_token()

        class Broken:
            requests_made = 0
            read_permission = ""

            def iter_user_delta(self, delta_link=None):
                raise RuntimeError(f"unexpected state with {token.token} and Bearer {token.token}")

            def get_mailbox_purposes(self, object_ids):
                return {}

        return Broken()

    return run_sync(connection, trigger=SyncRun.Trigger.MANUAL, client_factory=factory)


def _secrets(microsoft, verifiers: list[str]) -> dict[str, str]:
    found = {"client secret": CLIENT_SECRET, "authorization code": AUTH_CODE}
    found.update({f"PKCE verifier {n}": v for n, v in enumerate(verifiers)})
    jwts = {"id token": microsoft.id_token, "delegated token": microsoft.delegated_token}
    jwts.update({f"access token {n}": token for n, token in enumerate(microsoft.access_tokens)})
    assert microsoft.id_token and len(microsoft.access_tokens) >= 3 and verifiers
    for name, token in jwts.items():
        found[name] = token
        _, payload, signature = token.split(".")
        found[f"{name} payload"] = payload
        found[f"{name} signature"] = signature
    return found


def _run_texts() -> str:
    rows = SyncRun.objects.values_list("error", "warnings", "preview")
    connections = AzureConnection.objects.values_list("health_reason", "health_reason_params", "plan_memo")
    return json.dumps([list(rows), list(connections)], default=str)


def _portal_pages(client: Client, customer, runs_to_show) -> str:
    pages = [
        reverse("integrations:manage", args=[customer.pk]),
        reverse("integrations:mapping", args=[customer.pk]),
        reverse("integrations:audit", args=[customer.pk]),
        reverse("portal:customer", args=[customer.pk]),
    ]
    for run in runs_to_show:
        pages.append(reverse("integrations:run", args=[customer.pk, run.pk]))
        pages.append(reverse("integrations:run_progress", args=[customer.pk, run.pk]))
    return "\n".join(_get(client, page) for page in pages)


def _admin_pages(staff, connection, runs_to_show) -> str:
    client = Client()
    client.force_login(staff)
    pages = [
        reverse("admin:integrations_azureconnection_changelist"),
        reverse("admin:integrations_azureconnection_change", args=[connection.pk]),
        reverse("admin:integrations_syncrun_changelist"),
        reverse("admin:integrations_fieldchange_changelist"),
        reverse("admin:customers_customer_change", args=[connection.customer_id]),
        reverse("admin:customers_customer_azure_import", args=[connection.customer_id]),
    ]
    pages += [reverse("admin:integrations_syncrun_change", args=[run.pk]) for run in runs_to_show]
    pages += [
        reverse("admin:integrations_fieldchange_change", args=[pk])
        for pk in FieldChange.objects.values_list("pk", flat=True)[:5]
    ]
    return "\n".join(_get(client, page) for page in pages)


def _get(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def _csv(client: Client, customer) -> str:
    response = client.get(reverse("integrations:audit_csv", args=[customer.pk]))
    return b"".join(response.streaming_content).decode("utf-8")


def _dump_every_table() -> str:
    """Every row of every model, with session data decoded as well as raw."""
    parts = []
    for model in apps.get_models():
        parts.extend(json.dumps(row, default=str) for row in model.objects.values())
    for session in Session.objects.all():
        parts.append(json.dumps(SessionStore().decode(session.session_data), default=str))
    return "\n".join(parts)
