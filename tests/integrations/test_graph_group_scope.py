"""Reading a scope group's users from Graph (`/groups/{id}/transitiveMembers/microsoft.graph.user`)."""

from __future__ import annotations

import pytest
import responses

from integrations.graph.client import GraphClient, iter_group_user_ids
from integrations.graph.errors import ConsentRequiredError, MalformedResponseError
from tests.integrations.graph_helpers import GRAPH, TENANT, USER_READ_ALL, TokenRecorder, graph_error

GROUP = "5e9f3a1c-7b2d-4e8f-a6c1-0d9b8e7f6a5c"
FIRST = f"{GRAPH}/groups/{GROUP}/transitiveMembers/microsoft.graph.user?$select=id&$top=999"
NEXT = f"{GRAPH}/groups/{GROUP}/transitiveMembers/microsoft.graph.user?$select=id&$top=999&$skiptoken=X1"


@pytest.fixture(autouse=True)
def graph_settings(settings):
    settings.GRAPH_API_URL = GRAPH
    settings.AZURE_CA_BUNDLE = ""


def client(*roles: str) -> GraphClient:
    return GraphClient(
        TENANT, token_getter=TokenRecorder(roles=(USER_READ_ALL, *roles)), sleep=lambda s: None
    )


@responses.activate
def test_it_pages_through_the_transitive_user_members():
    # Reference: https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers?view=graph-rest-1.0
    # The cast leaves only users; each record is {"@odata.type": "#microsoft.graph.user", "id": ...}.
    responses.get(
        FIRST,
        json={
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id)",
            "@odata.nextLink": NEXT,
            "value": [{"@odata.type": "#microsoft.graph.user", "id": "u-1"}],
        },
        match=[responses.matchers.query_string_matcher("$select=id&$top=999")],
    )
    responses.get(NEXT, json={"value": [{"@odata.type": "#microsoft.graph.user", "id": "u-2"}]})

    assert list(iter_group_user_ids(client("GroupMember.Read.All"), GROUP)) == ["u-1", "u-2"]
    assert all(call.request.method == "GET" for call in responses.calls)


@responses.activate
def test_it_asks_for_a_new_consent_when_the_token_lacks_group_member_read():
    with pytest.raises(ConsentRequiredError, match=r"GroupMember\.Read\.All"):
        list(iter_group_user_ids(client(), GROUP))

    assert len(responses.calls) == 0


@responses.activate
def test_a_403_from_graph_also_means_consent_again():
    responses.get(
        FIRST, status=403, json=graph_error("Authorization_RequestDenied", "Insufficient privileges")
    )

    with pytest.raises(ConsentRequiredError):
        list(iter_group_user_ids(client("Directory.Read.All"), GROUP))


@responses.activate
def test_it_refuses_a_next_link_to_another_host():
    responses.get(FIRST, json={"value": [], "@odata.nextLink": "https://evil.example/next"})

    with pytest.raises(MalformedResponseError):
        list(iter_group_user_ids(client("GroupMember.Read.All"), GROUP))
