"""The simulator's groups: nested membership through
`/groups/{id}/transitiveMembers/microsoft.graph.user`, read by the portal's own Graph client."""

from __future__ import annotations

import pytest

from integrations.graph import tokens
from integrations.graph.client import GraphClient, iter_group_user_ids
from integrations.graph.errors import ConsentRequiredError
from microsoft_simulator.groups import group_id, groups_of
from microsoft_simulator.testing import app_token
from tests.simulator.helpers import CONTOSO, FABRIKAM, graph_error

GROUP_ROLES = ["User.Read.All", "MailboxSettings.Read", "GroupMember.Read.All"]


@pytest.fixture
def portal(sim, settings):
    for name, value in sim.settings().items():
        setattr(settings, name, value)
    tokens.reset_token_cache()
    yield
    tokens.reset_token_cache()


def test_a_token_without_a_group_role_is_denied(graph):
    response = graph(f"/groups/{group_id(CONTOSO, 'contract')}/transitiveMembers/microsoft.graph.user")

    assert graph_error(response) == (403, "Authorization_RequestDenied")


def test_the_portal_reads_nested_members_page_by_page(sim, portal):
    sim.apply("grant_consent", tenant=CONTOSO, roles=GROUP_ROLES)
    directory = sim.state.directories[CONTOSO]
    users = list(directory.users)
    outer, inner = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    sim.apply("set_group", tenant=CONTOSO, group=inner, members=users[2:5], name="Inner")
    sim.apply("set_group", tenant=CONTOSO, group=outer, members=[users[0], inner], name="Outer")

    members = list(iter_group_user_ids(GraphClient(CONTOSO, sleep=lambda s: None), outer, page_size=2))

    assert sorted(members) == sorted([users[0], *users[2:5]])


def test_the_generated_contract_group_nests_the_remote_staff(sim, portal):
    sim.apply("grant_consent", tenant=CONTOSO, roles=GROUP_ROLES)
    groups = groups_of(sim.state.directories[CONTOSO])
    contract, remote = group_id(CONTOSO, "contract"), group_id(CONTOSO, "remote")

    members = set(iter_group_user_ids(GraphClient(CONTOSO, sleep=lambda s: None), contract))

    assert remote in groups[contract].members
    assert groups[remote].members and groups[remote].members <= members
    assert 0 < len(members) < len(sim.state.directories[CONTOSO].users)


def test_without_the_role_the_portal_asks_for_a_new_consent(sim, portal):
    sim.apply("grant_consent", tenant=FABRIKAM)

    with pytest.raises(ConsentRequiredError, match="consent again"):
        list(iter_group_user_ids(GraphClient(FABRIKAM, sleep=lambda s: None), group_id(FABRIKAM, "contract")))


def test_an_unknown_group_is_not_found(sim, http):
    sim.apply("grant_consent", tenant=CONTOSO, roles=GROUP_ROLES)
    token = app_token(sim, CONTOSO, http)
    unknown = "33333333-3333-4333-8333-333333333333"

    response = http.get(
        f"{sim.graph_url}/groups/{unknown}/transitiveMembers/microsoft.graph.user",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert graph_error(response) == (404, "Request_ResourceNotFound")
