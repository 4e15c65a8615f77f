"""Fault-injection knobs: throttling, server errors, latency, malformed pages, revoked consent."""

from __future__ import annotations

import time

import pytest

from microsoft_simulator.testing import app_token
from tests.simulator.helpers import CONTOSO, GRAPH_SCOPE, graph_error, msal_app


@pytest.mark.parametrize(("retry_after", "header"), [("3", "3"), ("0.5", "0.5"), (None, None)])
def test_throttling_answers_429_with_each_retry_after_variant(sim, graph, retry_after, header):
    sim.set_knobs(throttle={"next": 1, "retry_after": retry_after})

    throttled = graph("/users")
    after = graph("/users")

    assert graph_error(throttled) == (429, "TooManyRequests")
    assert throttled.headers.get("Retry-After") == header
    assert after.status_code == 200


@pytest.mark.parametrize(("knob", "status"), [("unavailable", 503), ("gateway_timeout", 504)])
def test_server_errors_at_the_next_requests(sim, graph, knob, status):
    sim.set_knobs(**{knob: {"next": 2}})

    assert [graph("/users").status_code for _ in range(3)] == [status, status, 200]


def test_a_fault_rate_fires_about_that_often(sim, graph):
    sim.set_knobs(unavailable={"rate": 0.5}, fault_seed=7)

    statuses = [graph("/users?$top=1").status_code for _ in range(40)]

    assert 8 <= statuses.count(503) <= 32
    assert set(statuses) == {200, 503}


def test_a_path_filter_limits_the_fault_to_matching_requests(sim, graph):
    sim.set_knobs(throttle={"rate": 1.0, "path": "/users/delta"})

    assert graph("/users").status_code == 200
    assert graph("/users/delta").status_code == 429


def test_latency_delays_every_response(sim, graph):
    sim.set_knobs(latency_ms=150)

    started = time.monotonic()
    graph("/users?$top=1")

    assert time.monotonic() - started >= 0.15


def test_a_malformed_page_is_sent_once(sim, graph):
    sim.set_knobs(malformed={"next": 1})

    broken = graph("/users")
    with pytest.raises(ValueError):
        broken.json()
    assert broken.status_code == 200
    assert len(graph("/users").json()["value"]) == 50


def test_revoked_consent_fails_token_requests_and_graph_calls(sim, http, graph):
    sim.apply("revoke_consent", tenant=CONTOSO)

    result = msal_app(sim, http, CONTOSO).acquire_token_for_client(scopes=GRAPH_SCOPE)

    # The tenant removed the app: the service principal is missing (7000229), and Graph
    # no longer knows the identity behind tokens issued before.
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000229]
    assert graph_error(graph("/users")) == (401, "Authorization_IdentityNotFound")


def test_the_token_endpoint_can_be_throttled_in_the_identity_error_shape(sim, http):
    sim.set_knobs(throttle={"next": 1, "path": "/oauth2/v2.0/token", "retry_after": "1"})

    result = msal_app(sim, http, CONTOSO).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert result["error"] == "temporarily_unavailable"
    assert app_token(sim, CONTOSO, http)


def test_unknown_knobs_are_refused(sim):
    with pytest.raises(ValueError, match="unknown knob"):
        sim.set_knobs(throttel={"rate": 1})
