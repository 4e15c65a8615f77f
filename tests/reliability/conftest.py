"""Fixtures of the reliability and security suite: the local Microsoft
simulator with the portal pointed at it, and Microsoft on `responses`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.graph import tokens
from integrations.services import connections
from microsoft_simulator.server import RunningSimulator, start_simulator
from tests.integrations.conftest import entra, microsoft  # noqa: F401  (fixtures shared with this suite)


@pytest.fixture
def portal_on_simulator(settings, monkeypatch) -> Iterator:
    """Start simulators on demand (`portal_on_simulator(users=..., tenants=...)`), portal settings
    pointed at the last one; each is stopped after the test."""
    started: list[RunningSimulator] = []
    monkeypatch.setattr(connections, "CONSENT_RETRY_DELAY_SECONDS", 0)

    def start(**kwargs) -> RunningSimulator:
        sim = start_simulator(**{"seed": 1, "tenants": 3, **kwargs})
        started.append(sim)
        for name, value in sim.settings().items():
            setattr(settings, name, value)
        tokens.reset_token_cache()
        return sim

    yield start
    tokens.reset_token_cache()
    for sim in started:
        sim.stop()
