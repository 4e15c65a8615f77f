"""Item 8: the deployment posture.

* `manage.py check --deploy --fail-level WARNING` is clean with production settings;
* in production mode every answer carries the security headers, HTTP is
  redirected to HTTPS, cookies are Secure and HttpOnly, unknown hosts are refused;
* CSRF is enforced on every POST: no view is exempt, and each state-changing
  endpoint of the portal and the admin refuses a POST without the token (and
  accepts it with one, so the refusal really is CSRF), changing nothing.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.reliability.figures import record
from tests.reliability.test_isolation_matrix import MATRIX, state_of_everything, world  # noqa: F401
from tests.test_deploy_check import production, run

HOST = "portal.example.com"
PROBE = f"""
import json
import django
django.setup()
from django.conf import settings
# Templates name hashed static files; the manifest exists only after collectstatic.
settings.STORAGES = {{**settings.STORAGES, "staticfiles": {{"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}}}
from django.test import Client

def answer(response):
    cookies = {{
        name: {{"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}}
        for name, m in response.cookies.items()
    }}
    return {{"status": response.status_code, "headers": dict(response.headers), "cookies": cookies}}

out = {{
    "http": answer(Client().get("/accounts/login/", HTTP_HOST="{HOST}")),
    "https": answer(Client().get("/accounts/login/", HTTP_HOST="{HOST}", secure=True)),
    "redirect": answer(Client().get("/integrations/azure/confirm/", HTTP_HOST="{HOST}", secure=True)),
    "csrf": answer(Client(enforce_csrf_checks=True).post("/accounts/login/", {{"username": "a"}}, HTTP_HOST="{HOST}", secure=True)),
    "bad host": answer(Client().get("/accounts/login/", HTTP_HOST="evil.example", secure=True)),
    "probe": answer(Client().get("/healthz", HTTP_HOST="10.0.0.7:8000")),
    "settings": {{
        name: getattr(settings, name)
        for name in ("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT")
    }},
}}
print(json.dumps(out))
"""


def test_check_deploy_is_clean_at_warning_level():
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", **production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    record("check_deploy", fail_level="WARNING", issues=0)


def test_production_answers_carry_the_security_headers():
    result = run(
        "-c",
        PROBE,
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL="sqlite:////tmp/portal-deploy-probe.sqlite3",
        **production(),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])

    assert out["http"]["status"] == 301
    assert out["http"]["headers"]["Location"] == f"https://{HOST}/accounts/login/"
    for name in ("https", "redirect", "csrf"):
        headers = out[name]["headers"]
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "same-origin", name
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", name
    assert out["https"]["status"] == 200
    csrf_cookie = out["https"]["cookies"]["csrftoken"]
    assert csrf_cookie == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert out["redirect"]["status"] == 302 and "/accounts/login/" in out["redirect"]["headers"]["Location"]
    assert out["csrf"]["status"] == 403
    assert out["bad host"]["status"] == 400
    assert out["probe"]["status"] == 200
    assert out["settings"] == dict.fromkeys(
        ("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT"),
        True,
    )
    record(
        "security_headers",
        headers=sorted(
            {"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"}
            | {"Cross-Origin-Opener-Policy"}
        ),
        https_redirect=True,
        secure_cookies=True,
        unknown_host_refused=True,
    )


def test_no_view_is_exempt_from_csrf():
    exempt = [
        name
        for name, callback in _views(get_resolver().url_patterns)
        if getattr(callback, "csrf_exempt", False)
    ]
    assert not exempt, exempt


# Every state-changing request of the isolation matrix, plus the admin's own forms.
POSTS = [row for row in MATRIX if row.method == "post"]
ADMIN_FORMS = [
    ("admin: add a customer", "/admin/customers/customer/add/", {"name": "New", "plan": "enterprise"}),
    ("admin: delete a customer", "/admin/customers/customer/{world.a.pk}/delete/", {"post": "yes"}),
    ("admin: change a site", "/admin/customers/site/{world.a_site.pk}/change/", {"name": "Renamed"}),
    ("admin: log in", "/admin/login/", {"username": "tech", "password": "pw-tech"}),
]


@pytest.mark.django_db
def test_every_post_needs_the_csrf_token(world):  # noqa: F811
    superuser = _superuser()
    targets = [(row.key, row.path(world), row.data(world), _actor(row, world, superuser)) for row in POSTS]
    targets += [(key, path.format(world=world), data, superuser) for key, path, data in ADMIN_FORMS]
    refused = 0
    for key, path, data, user in targets:
        client = Client(enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user)
        before = state_of_everything()
        without = client.post(path, data)
        assert without.status_code == 403, (key, without.status_code)
        assert b"CSRF" in without.content, key
        assert state_of_everything() == before, key
        refused += 1

        token = _token(client)
        with_token = client.post(path, {**data, "csrfmiddlewaretoken": token})
        assert with_token.status_code != 403 or b"CSRF" not in with_token.content, (
            key,
            with_token.status_code,
        )
    record("csrf", posts_without_token=refused, refused=refused, accepted_with_token=refused)


def _actor(row, built, superuser):
    """Someone allowed to make the request, so that only CSRF can refuse it."""
    return superuser if row.url_name.startswith("admin:") else built.users["own"]


def _superuser():
    from django.contrib.auth.models import User

    return User.objects.create_superuser("csrf-root", "root@example.com", "pw")


def _token(client: Client) -> str:
    client.get("/accounts/login/")
    return client.cookies["csrftoken"].value


def _views(patterns, namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _views(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name or pattern.pattern}", pattern.callback
