"""E-mail is configured by one URL (EMAIL_URL): the console by default, SMTP in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({k: getattr(settings, k, None) for k in "
    "['EMAIL_BACKEND','EMAIL_HOST','EMAIL_PORT','EMAIL_USE_TLS','EMAIL_HOST_USER','DEFAULT_FROM_EMAIL','OPS_EMAIL']}))"
)


def settings_with(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "DEFAULT_FROM", "OPS_"))}
    result = subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_default_backend_prints_emails_to_the_console():
    assert settings_with()["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_an_smtp_url_configures_smtp_with_starttls():
    values = settings_with(
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="Portal <portal@msp.example>",
        OPS_EMAIL="ops@msp.example",
    )
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (values["EMAIL_HOST"], values["EMAIL_PORT"], values["EMAIL_USE_TLS"]) == (
        "smtp.example.com",
        587,
        True,
    )
    assert values["EMAIL_HOST_USER"] == "mailer"
    assert values["DEFAULT_FROM_EMAIL"] == "Portal <portal@msp.example>"
    assert values["OPS_EMAIL"] == "ops@msp.example"
