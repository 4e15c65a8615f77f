"""Graph /users: bearer checks, permissions, $select, $top and next links."""

from __future__ import annotations

import time

from integrations.graph.models import SELECT
from microsoft_simulator.testing import app_token
from microsoft_simulator.tokens import Signer
from tests.simulator.helpers import CONTOSO, FABRIKAM, all_pages, graph_error


def test_it_requires_a_bearer_token(sim, http):
    response = http.get(f"{sim.graph_url}/users")

    assert graph_error(response) == (401, "InvalidAuthenticationToken")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_an_expired_token(sim, http):
    now = int(time.time())
    claims = {
        "aud": "https://graph.microsoft.com",
        "tid": CONTOSO,
        "idtyp": "app",
        "roles": ["User.Read.All"],
    }
    token = sim.simulator.signer.sign({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 10})

    response = http.get(f"{sim.graph_url}/users", headers={"Authorization": f"Bearer {token}"})

    assert graph_error(response) == (401, "InvalidAuthenticationToken")
    assert "expired" in response.json()["error"]["message"]


def test_it_rejects_a_token_signed_by_another_key(sim, http):
    now = int(time.time())
    claims = {
        "aud": "https://graph.microsoft.com",
        "tid": CONTOSO,
        "idtyp": "app",
        "roles": ["User.Read.All"],
    }
    forged = Signer().sign({**claims, "iat": now, "nbf": now, "exp": now + 600})

    response = http.get(f"{sim.graph_url}/users", headers={"Authorization": f"Bearer {forged}"})

    assert graph_error(response) == (401, "InvalidAuthenticationToken")


def test_the_tenant_comes_from_the_token(sim, http):
    sim.apply("grant_consent", tenant=FABRIKAM)
    token = app_token(sim, FABRIKAM, http)

    users, _ = all_pages(
        lambda url: http.get(url, headers={"Authorization": f"Bearer {token}"}), f"{sim.graph_url}/users"
    )

    assert {u["id"] for u in users} == set(sim.state.directories[FABRIKAM].users)


def test_a_token_without_user_read_all_is_denied(sim, http):
    sim.apply("grant_consent", tenant=FABRIKAM, roles=["MailboxSettings.Read"])
    token = app_token(sim, FABRIKAM, http)

    response = http.get(f"{sim.graph_url}/users", headers={"Authorization": f"Bearer {token}"})

    assert graph_error(response) == (403, "Authorization_RequestDenied")


def test_paging_honours_select_and_top_with_absolute_next_links(sim, graph):
    users, bodies = all_pages(graph, "/users?$select=displayName,jobTitle&$top=7")

    assert len(users) == 50
    assert len({u["id"] for u in users}) == 50
    assert [len(b["value"]) for b in bodies] == [7] * 7 + [1]
    assert all(set(u) == {"id", "displayName", "jobTitle"} for u in users)
    assert all(b["@odata.nextLink"].startswith(f"{sim.graph_url}/users?") for b in bodies[:-1])
    assert "@odata.nextLink" not in bodies[-1]
    assert "@odata.deltaLink" not in bodies[-1]


def test_the_portals_full_select_returns_exactly_those_properties(sim, graph):
    users, _ = all_pages(graph, f"/users?$select={SELECT}&$top=999")

    assert all(list(u) == SELECT.split(",") for u in users)


def test_without_select_graph_returns_the_default_properties(sim, graph):
    user = graph("/users?$top=1").json()["value"][0]

    assert "department" not in user
    assert "accountEnabled" not in user
    assert {"id", "displayName", "mail", "userPrincipalName", "officeLocation"} <= set(user)


def test_page_size_defaults_to_100_and_is_capped_at_999(sim, graph):
    sim.apply("churn", tenant=CONTOSO, add=100)

    assert len(graph("/users").json()["value"]) == 100
    assert graph_error(graph("/users?$top=1000")) == (400, "Request_UnsupportedQuery")


def test_an_unknown_select_property_is_rejected(sim, graph):
    assert graph_error(graph("/users?$select=displayName,shoeSize")) == (400, "Request_BadRequest")


def test_select_is_case_insensitive_and_answers_canonical_names(sim, graph):
    user = graph("/users?$select=DISPLAYNAME,officelocation&$top=1").json()["value"][0]

    assert set(user) == {"id", "displayName", "officeLocation"}


def test_a_user_can_be_read_by_id_or_user_principal_name(sim, graph):
    admin = sim.state.directories[CONTOSO].spec

    by_id = graph(f"/users/{admin.admin_id}?$select=displayName").json()
    by_upn = graph(f"/users/{admin.admin_upn}?$select=displayName").json()

    assert by_id["displayName"] == by_upn["displayName"] == "Megan Bowen"
    assert graph_error(graph("/users/00000000-0000-4000-8000-000000000000")) == (
        404,
        "Request_ResourceNotFound",
    )


def test_organization_needs_organization_read_all_for_app_tokens(sim, http, graph):
    # As documented for real Graph: User.Read.All alone cannot read /organization app-only.
    assert graph_error(graph("/organization")) == (403, "Authorization_RequestDenied")

    sim.apply("grant_consent", tenant=CONTOSO, roles=["User.Read.All", "Organization.Read.All"])
    token = app_token(sim, CONTOSO, http)  # roles travel in the token: a new one is needed
    body = http.get(
        f"{sim.graph_url}/organization?$select=displayName", headers={"Authorization": f"Bearer {token}"}
    ).json()

    assert body["value"] == [{"id": CONTOSO, "displayName": "Contoso Ltd"}]


def test_writes_are_refused_and_logged(sim, http, graph):
    response = http.patch(
        f"{sim.graph_url}/users/{sim.tenants[0].admin_id}",
        json={"jobTitle": "x"},
        headers={"Authorization": f"Bearer {app_token(sim, CONTOSO, http)}"},
    )

    assert graph_error(response) == (403, "Authorization_RequestDenied")
    assert [(r.method, r.status) for r in sim.state.requests if r.path.startswith("/v1.0/")] == [
        ("PATCH", 403)
    ]


def test_responses_carry_graph_headers_and_gzip(sim, graph):
    response = graph("/users?$top=50")

    assert response.headers["Content-Type"].startswith("application/json;odata.metadata=minimal")
    assert response.headers["request-id"]
    assert response.headers["Content-Encoding"] == "gzip"
