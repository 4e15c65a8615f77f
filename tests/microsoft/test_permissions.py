"""Any application permission that includes reading users is accepted
(issue 13, finding 3), and the management page says when it is broader than
the portal needs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations.graph import tokens
from tests.microsoft.conftest import TokenEndpoint
from tests.microsoft.shapes import GRAPH, TENANT, delta_link, delta_page, person, users_page


def _directory(rsps):
    rsps.get(f"{GRAPH}/users/delta", json=delta_page([], delta_link=delta_link("baseline-1")))
    rsps.get(f"{GRAPH}/users", json=users_page([person(1)]))


@pytest.mark.parametrize(
    "permission", ["User.Read.All", "Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All"]
)
def test_a_tenant_that_granted_any_permission_that_reads_users_syncs(
    connection, entra_tokens, rsps, sync, permission
):
    entra_tokens.answers = [(200, TokenEndpoint.token([permission]))]
    _directory(rsps)

    run = sync(connection)

    assert (run.status, run.created) == ("succeeded", 1), run.error
    assert connection.read_permission == permission
    assert connection.health == "healthy"


@pytest.mark.parametrize(
    "permission", ["Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All"]
)
def test_connecting_accepts_a_broader_permission(entra_tokens, permission):
    entra_tokens.answers = [(200, TokenEndpoint.token([permission]))]

    token = tokens.get_app_token(TENANT)

    assert tokens.require_role(token) == permission


def test_a_token_without_any_read_permission_still_means_consent_again(connection, entra_tokens, rsps, sync):
    entra_tokens.answers = [(200, TokenEndpoint.token(["MailboxSettings.Read", "Group.Read.All"]))]

    run = sync(connection)

    assert run.error_kind == "consent_required"
    assert "User.Read.All or Directory.Read.All" in run.error


@pytest.mark.parametrize(
    ("permission", "said"),
    [
        ("User.Read.All", None),
        ("Directory.Read.All", "reads more than users"),
        ("Directory.ReadWrite.All", "also allows changes"),
    ],
)
def test_the_management_page_says_when_the_granted_permission_is_broader_than_needed(
    connection, customer_admin, permission, said
):
    connection.read_permission = permission
    connection.save()
    client = Client()
    client.force_login(customer_admin)

    page = client.get(reverse("integrations:manage", args=[connection.customer_id])).content.decode()

    if said is None:
        assert 'id="read-permission-note"' not in page
    else:
        assert said in page and permission in page
