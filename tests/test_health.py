"""The probes: /healthz answers without touching the database, /readyz says
whether the database answers. Both work for Docker and load balancers, which
call them by IP address over plain HTTP."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.urls import reverse

from portal import health


def test_healthz_answers_ok_without_the_database(client):
    # No `db` fixture: pytest-django fails the test on any database access.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ok_when_the_database_answers(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


class _DownConnection:
    def cursor(self):
        raise OperationalError("connection refused: host=db.internal password=hunter2")


def test_readyz_answers_503_without_details_when_the_database_is_down(client, monkeypatch):
    monkeypatch.setattr(health, "connection", _DownConnection())

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert b"hunter2" not in response.content


@pytest.fixture
def production_http(settings):
    """The production posture: a public host name and the HTTPS redirect."""
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.SECURE_SSL_REDIRECT = True


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_an_internal_host_over_plain_http(client, db, production_http, path):
    response = client.get(path, HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200


def test_other_pages_still_refuse_an_unknown_host(client, db, production_http):
    response = client.get("/accounts/login/", HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 400


def test_other_pages_still_redirect_to_https(client, db, production_http):
    response = client.get("/accounts/login/", HTTP_HOST="portal.example.com")

    assert response.status_code == 301
    assert response["Location"] == "https://portal.example.com/accounts/login/"


def test_probes_are_reachable_by_name(client, db):
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("readyz")).status_code == 200
