"""Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords a
user name, or a client address, is locked out of the portal and admin logins,
even with the right password, until the cool-off ends or someone unlocks it."""

from __future__ import annotations

import logging

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import make_user

LIMIT = 5
PORTAL = "/accounts/login/"
ADMIN = "/admin/login/"


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def attempt(client, url: str, username: str, password: str, ip: str = "203.0.113.7", **extra):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", [PORTAL, ADMIN], ids=["portal", "admin"])
def test_it_locks_a_user_out_after_the_configured_failures(client, db, url):
    make_user("tech", is_staff=True)
    for _ in range(LIMIT - 1):
        assert attempt(client, url, "tech", "wrong").status_code == 200  # the form again

    locked = attempt(client, url, "tech", "wrong")

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "Try again in 30 minutes" in locked.content.decode()


@pytest.mark.parametrize("url", [PORTAL, ADMIN], ids=["portal", "admin"])
def test_the_right_password_is_refused_while_locked(client, db, url):
    make_user("tech", is_staff=True)
    for _ in range(LIMIT):
        attempt(client, url, "tech", "wrong")

    response = attempt(client, url, "tech", "pw-tech")

    assert response.status_code == 429
    assert not logged_in(client)


def test_a_user_name_is_locked_whatever_address_the_guesses_come_from(client, db):
    make_user("alice")
    for n in range(LIMIT):
        attempt(client, PORTAL, "alice", "wrong", ip=f"198.51.100.{n + 1}")

    assert attempt(client, PORTAL, "alice", "pw-alice", ip="192.0.2.99").status_code == 429
    assert not logged_in(client)


def test_an_address_is_locked_whatever_user_names_it_tries(client, db):
    make_user("alice")
    for n in range(LIMIT):
        attempt(client, PORTAL, f"guess{n}", "wrong", ip="203.0.113.50")

    assert attempt(client, PORTAL, "alice", "pw-alice", ip="203.0.113.50").status_code == 429
    # The same user from another address is not locked: only that address is.
    assert attempt(client, PORTAL, "alice", "pw-alice", ip="203.0.113.51").status_code == 302
    assert logged_in(client)


def test_a_success_before_the_limit_starts_the_count_again(client, db):
    make_user("alice")
    for _ in range(LIMIT - 1):
        attempt(client, PORTAL, "alice", "wrong")
    assert attempt(client, PORTAL, "alice", "pw-alice").status_code == 302
    client.logout()

    for _ in range(LIMIT - 1):
        assert attempt(client, PORTAL, "alice", "wrong").status_code == 200


@pytest.mark.parametrize(
    ("command", "argument"), [("axes_reset_username", "alice"), ("axes_reset_ip", "203.0.113.7")]
)
def test_a_management_command_unlocks(client, db, command, argument):
    make_user("alice")
    for _ in range(LIMIT):
        attempt(client, PORTAL, "alice", "wrong")
    assert attempt(client, PORTAL, "alice", "pw-alice").status_code == 429

    call_command(command, argument)

    # The command removes the attempts the lockout is counted from.
    assert attempt(client, PORTAL, "alice", "pw-alice").status_code == 302
    assert logged_in(client)


def test_staff_unlock_a_user_by_deleting_the_attempts_in_the_admin(client, db):
    make_user("alice")
    for _ in range(LIMIT):
        attempt(client, PORTAL, "alice", "wrong")
    admin_client = type(client)()
    admin_client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-root"))
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert "alice" in admin_client.get(changelist).content.decode()

    for pk in AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True):
        url = reverse("admin:axes_accessattempt_delete", args=[pk])
        assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert attempt(client, PORTAL, "alice", "pw-alice").status_code == 302


def test_failures_and_lockouts_are_logged_without_the_password(client, db, caplog):
    make_user("alice")
    with caplog.at_level(logging.INFO):
        for _ in range(LIMIT):
            attempt(client, PORTAL, "alice", "Sup3r-Secret-Guess")
        attempt(client, PORTAL, "alice", "pw-alice")

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "login failure" in text and "alice" in text
    assert "Locking out" in text
    assert "Sup3r-Secret-Guess" not in text and "pw-alice" not in text
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert "Sup3r-Secret-Guess" not in stored


def test_behind_a_proxy_the_forwarded_address_is_locked_and_a_forged_one_ignored(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("alice")
    proxy = "10.0.0.2"
    for n in range(LIMIT):
        # The client forges a left-most address; our proxy appends the real one.
        forwarded = f"192.0.2.{n}, 203.0.113.9"
        attempt(client, PORTAL, f"guess{n}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=forwarded)

    assert AccessAttempt.objects.filter(ip_address="203.0.113.9").count() == LIMIT
    real = attempt(client, PORTAL, "alice", "pw-alice", ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    other = attempt(client, PORTAL, "alice", "pw-alice", ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert real.status_code == 429
    assert other.status_code == 302
