"""Fixtures for the sync engine: a connected customer and a fake directory."""

from __future__ import annotations

import pytest

from integrations.models import AzureConnection, SiteMapping, SyncRun
from integrations.sync.runner import run_sync
from portal.customers.models import Site
from tests.integrations.fakes import FakeDirectory

TENANT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def entra(settings, monkeypatch):
    """The portal configured for the real Microsoft URLs (answered by `responses`)."""
    from integrations.graph import tokens
    from integrations.services import connections
    from tests.integrations.graph_helpers import CLIENT_ID, CLIENT_SECRET, GRAPH, LOGIN

    settings.AZURE_CLIENT_ID = CLIENT_ID
    settings.AZURE_CLIENT_SECRET = CLIENT_SECRET
    settings.AZURE_AUTHORITY_HOST = LOGIN
    settings.GRAPH_API_URL = GRAPH
    monkeypatch.setattr(connections, "CONSENT_RETRY_DELAY_SECONDS", 0)
    tokens.reset_token_cache()
    yield
    tokens.reset_token_cache()


@pytest.fixture
def microsoft(entra):
    """Microsoft's endpoints for one tenant, on `responses`."""
    import responses

    from tests.integrations.microsoft_responses import Microsoft

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Microsoft(rsps)


@pytest.fixture
def connection(customer) -> AzureConnection:
    return AzureConnection.objects.create(customer=customer, tenant_id=TENANT_ID, tenant_name="Contoso Ltd")


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def milan(site) -> Site:
    return site  # the shared `site` fixture is Contoso's Milan


@pytest.fixture
def rome(customer) -> Site:
    return Site.objects.create(customer=customer, name="Rome")


@pytest.fixture
def mapped(connection, milan, rome) -> AzureConnection:
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=milan)
    SiteMapping.objects.create(connection=connection, value="Rome", site=rome)
    return connection


@pytest.fixture
def sync(directory):
    """Run one sync of a connection against the fake directory and return its run."""

    def _sync(connection: AzureConnection, *, trigger: str = SyncRun.Trigger.MANUAL, **kwargs) -> SyncRun:
        connection.refresh_from_db()
        run = run_sync(connection, trigger=trigger, client_factory=directory, **kwargs)
        assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED, SyncRun.Status.CANCELLED)
        return run

    return _sync
