"""Microsoft at its real URLs (through `responses`), answering with the
documented shapes of `shapes.py`, and a connected, mapped customer whose
syncs run the production code: MSAL, the Graph client, mirror, plan, apply."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import responses

from integrations.graph import tokens
from integrations.graph.client import GraphClient
from integrations.models import AzureConnection, SiteMapping, SyncRun
from integrations.services import connections
from integrations.sync.runner import run_sync
from tests.integrations.graph_helpers import CLIENT_SECRET, fake_jwt, openid_configuration
from tests.microsoft.shapes import CLIENT_ID, GRAPH, LOGIN, TENANT

TOKEN_URL = f"{LOGIN}/{TENANT}/oauth2/v2.0/token"
READ_ROLES = ["User.Read.All", "MailboxSettings.Read"]


@pytest.fixture(autouse=True)
def entra(settings, monkeypatch) -> Iterator[None]:
    settings.AZURE_CLIENT_ID = CLIENT_ID
    settings.AZURE_CLIENT_SECRET = CLIENT_SECRET
    settings.AZURE_CLIENT_CERTIFICATE_PATH = ""
    settings.AZURE_AUTHORITY_HOST = LOGIN
    settings.GRAPH_API_URL = GRAPH
    settings.AZURE_CA_BUNDLE = ""
    monkeypatch.setattr(connections, "CONSENT_RETRY_DELAY_SECONDS", 0)
    tokens.reset_token_cache()
    yield
    tokens.reset_token_cache()


class TokenEndpoint:
    """Entra's token endpoint for the tenant: each answer in turn, the last one repeated."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.answers: list[tuple[int, dict]] = [(200, self.token(READ_ROLES))]
        self.calls = 0
        rsps.get(
            f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration",
            json=openid_configuration(TENANT, TENANT),
        )
        rsps.add_callback(responses.POST, TOKEN_URL, callback=self._answer)

    @staticmethod
    def token(roles: list[str]) -> dict:
        # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
        return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": fake_jwt(tid=TENANT, roles=roles)}  # fmt: skip

    def _answer(self, request):
        self.calls += 1
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def entra_tokens(rsps) -> TokenEndpoint:
    return TokenEndpoint(rsps)


@pytest.fixture
def connection(customer, site) -> AzureConnection:
    # These tests change whole directories on purpose: the mass-change brake
    # (tests/integrations/test_brake.py) is off here.
    connection = AzureConnection.objects.create(
        customer=customer, tenant_id=TENANT, tenant_name="Contoso Ltd", brake_percent=100
    )
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    return connection


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def sync(entra_tokens, waits) -> Callable[..., SyncRun]:
    """One run of the production sync against the registered answers (no real sleeping)."""

    def _sync(connection: AzureConnection, *, trigger: str = SyncRun.Trigger.MANUAL) -> SyncRun:
        connection.refresh_from_db()
        run = run_sync(
            connection, trigger=trigger, client_factory=lambda tid: GraphClient(tid, sleep=waits.append)
        )
        run.refresh_from_db()
        connection.refresh_from_db()
        return run

    return _sync


def calls_to(rsps: responses.RequestsMock, prefix: str) -> list[str]:
    return [call.request.url for call in rsps.calls if call.request.url.startswith(prefix)]
