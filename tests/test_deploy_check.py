"""Production mode (DEBUG off) passes `manage.py check --deploy` with no
warning, and refuses to start without a real SECRET_KEY. Each case runs in a
fresh process, because settings are read once, at start-up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
# Variables that could weaken the production posture under test.
_POSTURE = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "DJANGO_SETTINGS_MODULE",
]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in _POSTURE}
    environment.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120
    )


def production(**extra: str) -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.com",
        **extra,
    }


def test_check_deploy_is_clean_with_production_settings():
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", **production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "secret_key", ["", "dev-only-insecure-key-do-not-use-in-production"], ids=["empty", "dev-key"]
)
def test_production_refuses_to_start_without_a_real_secret_key(secret_key):
    result = run("manage.py", "check", **production(SECRET_KEY=secret_key))

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_refuses_to_start_when_secret_key_is_unset():
    if (BASE_DIR / ".env").exists():
        pytest.skip("a local .env file may provide SECRET_KEY")
    env = production()
    del env["SECRET_KEY"]

    result = run("manage.py", "check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_development_mode_starts_without_configuration():
    result = run("manage.py", "check")

    assert result.returncode == 0, result.stderr


# What Docker's HEALTHCHECK does: plain HTTP to 127.0.0.1, whatever ALLOWED_HOSTS says.
_HEALTHCHECK = """
import django
django.setup()
from django.test import Client
response = Client().get("/healthz", HTTP_HOST="127.0.0.1:8000")
print(response.status_code, response.content.decode())
"""


def test_production_answers_the_container_healthcheck():
    result = run("-c", _HEALTHCHECK, DJANGO_SETTINGS_MODULE="portal.settings", **production())

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '200 {"status": "ok"}'
