"""A strict Content-Security-Policy (no inline script or style anywhere), a
Permissions-Policy, and session lifetimes: an idle limit for staff and an
absolute one for everyone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from portal.security import sessions

BASE_DIR = Path(__file__).resolve().parents[2]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def directives(header: str) -> dict[str, list[str]]:
    return {name: rest for name, *rest in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_every_page_has_a_strict_csp(client, db, path):
    response = client.get(path)

    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_signed_in_pages_have_it_too(customer_admin, customer, superuser):
    for client, path in [
        (signed_in(customer_admin), reverse("portal:customer", args=[customer.pk])),
        (signed_in(superuser), "/admin/customers/customer/"),
    ]:
        response = client.get(path)
        assert response.status_code == 200
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_it_sends_a_permissions_policy(client, db):
    header = client.get("/accounts/login/")["Permissions-Policy"]

    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in header


def test_no_template_has_inline_script_style_or_event_handlers():
    offenders = []
    for template in (BASE_DIR / "templates").rglob("*.html"):
        # E-mail bodies: no browser policy applies to them, and mail clients want inline styles.
        if template.parent.name == "emails":
            continue
        text = template.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style\b",
            r"\sstyle=",
            r"\son[a-z]+\s*=",
            r"javascript:",
        ):
            if re.search(pattern, text, flags=re.IGNORECASE):
                offenders.append(f"{template.relative_to(BASE_DIR)}: {pattern}")
    assert offenders == []


_HEADERS = """
import django
django.setup()
from django.test import Client
# A response that needs no collected static files (production serves them from the
# manifest, which this checkout has not built): the language switch's redirect.
response = Client().get("/i18n/setlang/", HTTP_HOST="portal.example.com", secure=True)
assert response.status_code == 302, response.status_code
print("RESULT", "enforced" if response.has_header("Content-Security-Policy") else "-",
      "report-only" if response.has_header("Content-Security-Policy-Report-Only") else "-")
"""


def run_settings(**env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CSP_", "DEBUG", "SECRET_KEY"))}
    environment.update(DJANGO_SETTINGS_MODULE="portal.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", _HEADERS],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return next(line.split()[1:] for line in result.stdout.splitlines() if line.startswith("RESULT"))


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "x" * 64, "ALLOWED_HOSTS": "portal.example.com"}


def test_production_enforces_the_policy():
    assert run_settings(**PRODUCTION) == ["enforced", "-"]


def test_csp_report_only_sends_the_same_policy_as_report_only():
    assert run_settings(**PRODUCTION, CSP_REPORT_ONLY="true") == ["-", "report-only"]


def test_staff_are_logged_out_after_the_idle_timeout(staff_with_permission, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    client = signed_in(staff_with_permission)
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[sessions.SEEN] = int(time.time()) - 31 * 60
    session.save()

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "_auth_user_id" not in client.session
    assert "without activity" in client.get(response["Location"]).content.decode()


def test_staff_activity_keeps_the_session(staff_with_permission, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 30
    client = signed_in(staff_with_permission)
    client.get("/admin/")
    session = client.session
    session[sessions.SEEN] = int(time.time()) - 29 * 60
    session.save()

    assert client.get("/admin/").status_code == 200
    assert client.session[sessions.SEEN] >= int(time.time()) - 5  # the request counted as activity


def test_customer_users_have_no_idle_timeout(customer_member):
    client = signed_in(customer_member)
    client.get(reverse("portal:home"))
    session = client.session
    session[sessions.SEEN] = int(time.time()) - 10 * 3600
    session.save()

    assert client.get(reverse("portal:home")).status_code == 200


def test_every_session_ends_after_the_absolute_lifetime(customer_member, settings):
    client = signed_in(customer_member)
    client.get(reverse("portal:home"))
    session = client.session
    session[sessions.STARTED] = int(time.time()) - settings.SESSION_COOKIE_AGE - 1
    session.save()

    response = client.get(reverse("portal:home"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_absolute_lifetime_is_shorter_than_djangos_two_weeks(settings):
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
