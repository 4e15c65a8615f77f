"""Constants and small helpers shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msal
import requests

from microsoft_simulator.server import RunningSimulator

CONTOSO = "525b6c55-3da5-4253-a683-5aac155e4a8c"
FABRIKAM = "801200dd-397e-42a6-aee4-23cdb509ee77"
NORTHWIND = "0b5d176c-c411-4c9c-b094-f14d04ba574f"
GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]
REDIRECT_URI = "https://portal.example/integrations/azure/callback/"


def msal_app(
    sim: RunningSimulator, http: requests.Session, tenant: str, **kwargs: Any
) -> msal.ConfidentialClientApplication:
    """The portal's way of building MSAL apps, pointed at the simulator."""
    kwargs.setdefault("client_credential", sim.client_secret)
    return msal.ConfidentialClientApplication(
        sim.client_id,
        authority=f"{sim.base_url}/{tenant}",
        instance_discovery=False,
        http_client=http,
        **kwargs,
    )


def all_pages(get: Callable[..., requests.Response], url: str) -> tuple[list[dict], list[dict]]:
    """Follow next links; return (users, page bodies)."""
    users: list[dict] = []
    bodies: list[dict] = []
    next_url: str | None = url
    while next_url:
        response = get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        users.extend(body["value"])
        next_url = body.get("@odata.nextLink")
    return users, bodies


def graph_error(response: requests.Response) -> tuple[int, str]:
    """(status, Graph error code), asserting Graph's error shape."""
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "innerError"}
    return response.status_code, error["code"]
