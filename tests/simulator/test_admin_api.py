"""The admin API, state-file replay and the management command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from microsoft_simulator.testing import app_token, running_simulator, session_for
from tests.simulator.helpers import CONTOSO, FABRIKAM, all_pages, graph_error


def _admin(sim, http, method, path, **kwargs):
    return http.request(
        method, f"{sim.base_url}/_simulator{path}", headers={"X-Simulator-Key": sim.admin_key}, **kwargs
    )


def test_the_admin_api_requires_the_key(sim, http):
    assert http.get(f"{sim.base_url}/_simulator/state").status_code == 401
    assert (
        http.get(f"{sim.base_url}/_simulator/state", headers={"X-Simulator-Key": "wrong"}).status_code == 401
    )
    assert _admin(sim, http, "GET", "/state").status_code == 200


def test_the_admin_api_changes_knobs_and_runs_ops(sim, http):
    knobs = _admin(sim, http, "POST", "/knobs", json={"throttle.next": 1, "latency_ms": 1}).json()
    result = _admin(sim, http, "POST", "/ops", json={"op": "grant_consent", "tenant": "fabrikam.com"}).json()
    bad = _admin(sim, http, "POST", "/ops", json={"op": "explode"})

    assert knobs["throttle"]["next"] == 1
    assert result["results"][0]["tenant"] == FABRIKAM
    assert bad.status_code == 400
    assert sim.state.roles_for(FABRIKAM)


def test_the_request_log_lists_method_path_and_status(sim, http, graph):
    graph("/users?$top=1")

    log = _admin(sim, http, "GET", "/requests").json()["requests"]

    assert [entry[1:] for entry in log if entry[2].startswith("/v1.0")] == [["GET", "/v1.0/users", 200]]


def test_a_state_file_replays_consents_and_changes_after_a_restart(tmp_path):
    state_file = tmp_path / "state.json"
    with running_simulator(users=20, state_file=state_file) as sim:
        http = session_for(sim)
        sim.apply("grant_consent", tenant=FABRIKAM)
        token = app_token(sim, FABRIKAM, http)
        get = lambda url: http.get(url, headers={"Authorization": f"Bearer {token}"})  # noqa: E731
        _, bodies = all_pages(get, f"{sim.graph_url}/users/delta?$select=jobTitle")
        delta_link = bodies[-1]["@odata.deltaLink"]
        user = sim.apply("add_user", tenant=FABRIKAM)["user"]["id"]
        sim.apply("update_user", tenant=FABRIKAM, user=user, props={"jobTitle": "Restarted"})

    with running_simulator(users=20, state_file=state_file) as again:
        http = session_for(again)
        link = delta_link.replace(sim.base_url, again.base_url)
        response = http.get(link, headers={"Authorization": f"Bearer {token}"})  # same signing key

        assert response.status_code == 200
        assert response.json()["value"] == [{"id": user, "jobTitle": "Restarted"}]
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"


def test_a_state_file_refuses_a_different_seed(tmp_path):
    state_file = tmp_path / "state.json"
    with running_simulator(users=5, state_file=state_file):
        pass

    with pytest.raises(ValueError, match="seed"):
        running_simulator(users=5, seed=2, state_file=state_file).__enter__()


def test_the_mutate_command_changes_the_running_tenant(sim, graph, tmp_path):
    info = tmp_path / "simulator.json"
    info.write_text(
        json.dumps(
            {
                "base_url": sim.base_url,
                "ca_path": str(sim.ca_path),
                "admin_key": sim.admin_key,
                "tenants": sim.state.summary()["tenants"],
            }
        )
    )
    user = sim.tenants[0].admin_id

    call_command(
        "microsoft_simulator",
        "mutate",
        "--info",
        str(info),
        "--tenant",
        "contoso",
        "--set-title",
        user,
        "CTO",
    )
    call_command(
        "microsoft_simulator", "mutate", "--info", str(info), "--tenant", "Contoso", "--revoke-consent"
    )

    assert sim.state.directories[CONTOSO].users[user].jobTitle == "CTO"
    # A token of a service principal the tenant removed: Graph answers Authorization_IdentityNotFound.
    assert graph_error(graph("/users")) == (401, "Authorization_IdentityNotFound")


@pytest.mark.slow
def test_the_command_runs_the_simulator_in_the_foreground(tmp_path):
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    ca = tmp_path / "ca.pem"
    process = subprocess.Popen(
        [sys.executable, str(manage), "microsoft_simulator", "--port", "0", "--users", "10", "--ca-path", str(ca),
         "--consent", "contoso"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl+C" in line for line in lines):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
        output = "".join(lines)
        assert "Ctrl+C" in output, output
        info = json.loads((tmp_path / "simulator.json").read_text())
        http = session_for_info(info)
        token_ok = http.post(
            f"{info['base_url']}/{CONTOSO}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": _env(tmp_path)["AZURE_CLIENT_ID"],
                  "client_secret": _env(tmp_path)["AZURE_CLIENT_SECRET"],
                  "scope": "https://graph.microsoft.com/.default"},
        ).status_code  # fmt: skip
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)

    assert "export AZURE_AUTHORITY_HOST=https://127.0.0.1:" in output
    assert f"export AZURE_CA_BUNDLE={ca}" in output
    assert "Contoso Ltd" in output and "MeganB@contoso.onmicrosoft.com" in output
    assert token_ok == 200


def _env(directory: Path) -> dict[str, str]:
    lines = (directory / "simulator.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def session_for_info(info: dict):
    from microsoft_simulator.testing import CASession

    return CASession(info["ca_path"])


def test_portal_on_simulator_overrides_the_microsoft_settings():
    from django.conf import settings

    from microsoft_simulator.testing import portal_on_simulator

    with portal_on_simulator(users=5) as (sim, overrides):
        assert settings.AZURE_AUTHORITY_HOST == sim.base_url == overrides["AZURE_AUTHORITY_HOST"]
        assert f"{sim.base_url}/v1.0" == settings.GRAPH_API_URL
        assert Path(settings.AZURE_CA_BUNDLE).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        assert sim.client_id == settings.AZURE_CLIENT_ID
