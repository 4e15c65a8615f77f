"""A fresh simulator per test: 3 tenants x 50 users, Contoso already consented."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from microsoft_simulator.server import RunningSimulator
from microsoft_simulator.testing import CASession, app_token, running_simulator, session_for
from tests.simulator.helpers import CONTOSO


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(users=50, consented=[CONTOSO]) as running:
        yield running


@pytest.fixture
def http(sim: RunningSimulator) -> CASession:
    return session_for(sim)


@pytest.fixture
def graph(sim: RunningSimulator, http: CASession) -> Callable[..., requests.Response]:
    """GET on Contoso's Graph with an app-only token (path or absolute URL)."""
    token = app_token(sim, CONTOSO, http)

    def get(path_or_url: str, **kwargs: object) -> requests.Response:
        url = path_or_url if path_or_url.startswith("https://") else f"{sim.graph_url}{path_or_url}"
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return http.get(url, headers=headers, **kwargs)  # type: ignore[arg-type]

    return get
