"""R1 (the portal never writes to the tenant) and R2 (no credential or token is
ever stored or logged), proven on a whole connect flow plus syncs, through the
production MSAL and requests code paths."""

from __future__ import annotations

import io
import json
import logging

import pytest
import responses
from django.apps import apps
from django.db import connection as db
from django.urls import reverse

from integrations.models import AzureConnection, SiteMapping, SyncRun
from integrations.sync.runner import run_sync
from portal.customers.models import Site
from portal.log_redaction import RedactSecretsFilter
from tests.integrations.graph_helpers import CLIENT_SECRET, GRAPH, TENANT, graph_user
from tests.integrations.microsoft_responses import AUTH_CODE
from tests.integrations.test_consent_flow import consent_callback, logged_in, sign_in

pytestmark = pytest.mark.django_db


def connect_through_the_portal(customer, admin, microsoft) -> AzureConnection:
    client = logged_in(admin)
    query = sign_in(client, customer, microsoft)
    response = consent_callback(client, admin_consent="True", tenant=TENANT, state=query["state"])
    assert response.status_code == 302
    client.get(reverse("integrations:manage", args=[customer.pk]))
    connection = AzureConnection.objects.get()
    site = Site.objects.create(customer=customer, name="HQ")
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    return connection


def test_r1_every_graph_call_of_a_sync_is_a_read(customer, customer_admin, microsoft):
    microsoft.users.append(graph_user(99, accountEnabled=False, assignedLicenses=[]))
    microsoft.app_roles = [["User.Read.All", "MailboxSettings.Read"]]  # so the sync reads mailboxes too
    connection = connect_through_the_portal(customer, customer_admin, microsoft)

    run = run_sync(connection, trigger=SyncRun.Trigger.INITIAL)
    run_sync(connection, trigger=SyncRun.Trigger.MANUAL)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.created == 4
    graph_calls = [call.request for call in microsoft.rsps.calls if call.request.url.startswith(GRAPH)]
    assert {request.method for request in graph_calls} == {"GET", "POST"}
    for request in graph_calls:
        if request.method == "POST":
            assert request.url == f"{GRAPH}/$batch"
            assert {sub["method"] for sub in json.loads(request.body)["requests"]} == {"GET"}


@pytest.fixture
def portal_log():
    """What the portal's configured log handler writes, at DEBUG for every library."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    levels = {
        name: logging.getLogger(name).level for name in ("", "msal", "urllib3", "integrations", "django")
    }
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def database_dump() -> str:
    """Every row of every table, as text."""
    parts = []
    for model in apps.get_models():
        parts.extend(json.dumps(row, default=str) for row in model.objects.values())
    with db.cursor() as cursor:
        cursor.execute("SELECT session_data FROM django_session")
        parts.extend(row[0] for row in cursor.fetchall())
    return "\n".join(parts)


def test_r2_no_token_code_or_secret_reaches_the_database_or_the_logs(
    customer, customer_admin, microsoft, portal_log
):
    connection = connect_through_the_portal(customer, customer_admin, microsoft)
    assert run_sync(connection, trigger=SyncRun.Trigger.INITIAL).status == SyncRun.Status.SUCCEEDED
    # A failing run too: Graph rejects the token twice (a delta round reads /users/delta).
    microsoft.rsps.replace(
        responses.GET,
        f"{GRAPH}/users/delta",
        status=401,
        json={"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}},
    )
    failed = run_sync(connection, trigger=SyncRun.Trigger.MANUAL)
    assert failed.status == SyncRun.Status.FAILED

    secrets = [
        CLIENT_SECRET,
        AUTH_CODE,
        microsoft.id_token,
        microsoft.delegated_token,
        *microsoft.access_tokens,
    ]
    assert microsoft.id_token and len(microsoft.access_tokens) >= 2
    dump, log = database_dump(), portal_log.getvalue()
    assert log  # the handler did see the run's records
    for secret in secrets:
        assert secret not in dump
        assert secret not in log
    # Not even a fragment of a token: its signature part.
    for token in microsoft.access_tokens:
        assert token.split(".")[2] not in dump + log
