"""The knobs that make the simulator behave like real Microsoft (issue 13):
Microsoft's delta page size, /users honouring $top, expired paging tokens,
per-mailbox 403/404 items, app removal and token errors while consent
propagates."""

from __future__ import annotations

from integrations.graph.models import SELECT
from microsoft_simulator.knobs import Knobs
from microsoft_simulator.testing import app_token
from tests.simulator.helpers import CONTOSO, FABRIKAM, GRAPH_SCOPE, all_pages, graph_error, msal_app


def test_delta_pages_default_to_200_users_and_follow_the_knob(sim, graph):
    sim.set_knobs(delta_page_size=7)

    users, bodies = all_pages(graph, f"/users/delta?$select={SELECT}")

    assert [len(b["value"]) for b in bodies] == [7] * 7 + [1]
    assert len(users) == 50
    assert Knobs().delta_page_size == 200  # the realistic default


def test_users_honours_top_up_to_999_and_defaults_to_100(sim, graph):
    assert len(graph("/users?$top=3").json()["value"]) == 3
    assert len(graph("/users").json()["value"]) == 50  # 50 < 100, the default page
    sim.set_knobs(default_page_size=10)
    assert len(graph("/users").json()["value"]) == 10
    assert graph_error(graph("/users?$top=1000")) == (400, "Request_UnsupportedQuery")


def test_an_expired_page_token_answers_directory_expired_page_token_on_next_links_only(sim, graph):
    sim.set_knobs(expired_page_token={"next": 1})
    first = graph("/users?$top=10").json()  # a first page carries no paging token: not affected

    assert graph_error(graph(first["@odata.nextLink"])) == (400, "Directory_ExpiredPageToken")
    assert graph(first["@odata.nextLink"]).status_code == 200  # the knob fired once


def test_an_expired_page_token_also_hits_delta_next_links(sim, graph):
    sim.set_knobs(delta_page_size=10, expired_page_token={"next": 1})
    first = graph(f"/users/delta?$select={SELECT}").json()

    assert graph_error(graph(first["@odata.nextLink"])) == (400, "Directory_ExpiredPageToken")


def test_mailbox_knobs_refuse_or_hide_single_mailboxes_inside_a_batch(sim, http):
    users = [u for u in sim.state.directories[CONTOSO].users.values() if u.purpose][:3]
    sim.set_knobs(mailbox_denied=users[0].id, mailbox_missing=users[1].id)
    token = app_token(sim, CONTOSO, http)
    requests_ = [
        {"id": str(n), "method": "GET", "url": f"/users/{u.id}/mailboxSettings/userPurpose"}
        for n, u in enumerate(users, start=1)
    ]

    body = http.post(
        f"{sim.graph_url}/$batch", json={"requests": requests_}, headers={"Authorization": f"Bearer {token}"}
    ).json()

    by_id = {item["id"]: item for item in body["responses"]}
    assert (by_id["1"]["status"], by_id["1"]["body"]["error"]["code"]) == (403, "ErrorAccessDenied")
    assert (by_id["2"]["status"], by_id["2"]["body"]["error"]["code"]) == (404, "MailboxNotEnabledForRESTAPI")
    assert (by_id["3"]["status"], by_id["3"]["body"]["value"]) == (200, users[2].purpose)


def test_a_tenant_that_never_consented_answers_700016_and_one_that_removed_the_app_7000229(sim, http):
    never = msal_app(sim, http, FABRIKAM).acquire_token_for_client(scopes=GRAPH_SCOPE)
    sim.apply("revoke_consent", tenant=CONTOSO)
    removed = msal_app(sim, http, CONTOSO).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert (never["error"], never["error_codes"]) == ("unauthorized_client", [700016])
    assert (removed["error"], removed["error_codes"]) == ("invalid_client", [7000229])
    assert "missing service principal" in removed["error_description"]


def test_consenting_again_after_a_removal_issues_tokens_again(sim, http):
    sim.apply("revoke_consent", tenant=CONTOSO)
    sim.apply("grant_consent", tenant=CONTOSO)

    assert app_token(sim, CONTOSO, http)


def test_while_consent_propagates_the_token_endpoint_can_refuse_with_the_knobs_code(sim, http):
    sim.set_knobs(consent_propagation_seconds=60, consent_propagation_error="700016")
    sim.apply("grant_consent", tenant=FABRIKAM)

    result = msal_app(sim, http, FABRIKAM).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert result["error_codes"] == [700016]
    sim.set_knobs(consent_propagation_seconds=0)
    assert "access_token" in msal_app(sim, http, FABRIKAM).acquire_token_for_client(scopes=GRAPH_SCOPE)


def test_without_the_error_knob_a_propagating_consent_issues_a_token_without_roles(sim, http):
    sim.set_knobs(consent_propagation_seconds=60)
    sim.apply("grant_consent", tenant=FABRIKAM)

    result = msal_app(sim, http, FABRIKAM).acquire_token_for_client(scopes=GRAPH_SCOPE)

    assert "access_token" in result
