"""Graph /users/delta: full rounds, changes only, removals and expiry, the
default and the minimal shape, and Microsoft's own page size."""

from __future__ import annotations

import functools

import pytest

from integrations.graph.models import SELECT
from microsoft_simulator.testing import running_simulator
from tests.simulator.helpers import CONTOSO, all_pages, graph_error

# Reference: https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0
DELTA = f"/users/delta?$select={SELECT}"
MINIMAL = {"Prefer": "return=minimal"}


@pytest.fixture(autouse=True)
def small_delta_pages(sim):
    """50 users in pages of 20, so rounds have several pages (Microsoft's are about 200)."""
    sim.set_knobs(delta_page_size=20)


def _round(graph, url=DELTA, headers=None):
    users, bodies = all_pages(functools.partial(graph, headers=headers or {}), url)
    return users, bodies[-1]["@odata.deltaLink"]


def _some_users(sim, count):
    return list(sim.state.directories[CONTOSO].users.values())[1 : 1 + count]


def test_a_first_round_lists_everyone_and_ends_with_a_delta_link(sim, graph):
    users, bodies = all_pages(graph, DELTA)

    assert len(users) == 50
    assert all("@odata.nextLink" in b and "@odata.deltaLink" not in b for b in bodies[:-1])
    assert bodies[-1]["@odata.deltaLink"].startswith(f"{sim.graph_url}/users/delta?$deltatoken=")
    assert "@odata.nextLink" not in bodies[-1]


def test_next_and_delta_links_are_opaque(sim, graph):
    _, bodies = all_pages(graph, DELTA)

    assert "$skiptoken=" in bodies[0]["@odata.nextLink"]
    assert "$select" not in bodies[-1]["@odata.deltaLink"]


def test_by_default_a_changed_user_comes_with_every_selected_property(sim, graph):
    _, link = _round(graph)
    changed = _some_users(sim, 1)[0]
    sim.apply("update_user", tenant=CONTOSO, user=changed.id, props={"jobTitle": "Chief Sync Officer"})

    (user,) = _round(graph, link)[0]

    assert list(user) == SELECT.split(",")
    assert user["jobTitle"] == "Chief Sync Officer"
    assert user["surname"] == changed.surname


def test_with_return_minimal_a_delta_link_returns_only_changed_properties_new_users_and_removals(sim, graph):
    _, link = _round(graph)
    changed, removed = _some_users(sim, 2)
    sim.apply("update_user", tenant=CONTOSO, user=changed.id, props={"jobTitle": "Chief Sync Officer"})
    sim.apply("remove_user", tenant=CONTOSO, user=removed.id)
    added = sim.apply("add_user", tenant=CONTOSO)["user"]

    users, next_link = _round(graph, link, MINIMAL)

    by_id = {u["id"]: u for u in users}
    assert by_id[changed.id] == {"id": changed.id, "jobTitle": "Chief Sync Officer"}
    assert by_id[removed.id] == {"id": removed.id, "@removed": {"reason": "changed"}}
    assert list(by_id[added["id"]]) == SELECT.split(",")
    assert len(users) == 3
    assert _round(graph, next_link)[0] == []


def test_setting_a_property_to_null_is_sent_as_null(sim, graph):
    _, link = _round(graph)
    user = next(u for u in _some_users(sim, 40) if u.mobilePhone)
    sim.apply("update_user", tenant=CONTOSO, user=user.id, props={"mobilePhone": None})

    users, _ = _round(graph, link, MINIMAL)

    assert users == [{"id": user.id, "mobilePhone": None}]


def test_a_permanent_deletion_is_reported_as_deleted(sim, graph):
    _, link = _round(graph)
    user = _some_users(sim, 1)[0]
    sim.apply("remove_user", tenant=CONTOSO, user=user.id, permanent=True)

    assert _round(graph, link)[0] == [{"id": user.id, "@removed": {"reason": "deleted"}}]


def test_a_change_to_an_unselected_property_is_not_reported(sim, graph):
    _, link = _round(graph, "/users/delta?$select=displayName")
    sim.apply("update_user", tenant=CONTOSO, user=_some_users(sim, 1)[0].id, props={"jobTitle": "x"})

    assert _round(graph, link)[0] == []


def test_a_user_added_and_removed_between_rounds_is_not_reported(sim, graph):
    _, link = _round(graph)
    added = sim.apply("add_user", tenant=CONTOSO)["user"]
    sim.apply("remove_user", tenant=CONTOSO, user=added["id"])

    assert _round(graph, link)[0] == []


def test_a_restored_user_comes_back_in_full(sim, graph):
    user = _some_users(sim, 1)[0]
    sim.apply("remove_user", tenant=CONTOSO, user=user.id)
    _, link = _round(graph)
    sim.apply("restore_user", tenant=CONTOSO, user=user.id)

    users, _ = _round(graph, link)

    assert [u["id"] for u in users] == [user.id]
    assert list(users[0]) == SELECT.split(",")


def test_changes_during_a_round_show_up_in_the_next_one(sim, graph):
    first = graph(DELTA).json()
    user = _some_users(sim, 45)[-1]
    sim.apply("update_user", tenant=CONTOSO, user=user.id, props={"jobTitle": "Changed mid-round"})

    rest, bodies = all_pages(graph, first["@odata.nextLink"])
    seen = {u["id"]: u for u in first["value"] + rest}

    assert len(seen) == 50  # the round is a consistent snapshot
    assert _round(graph, bodies[-1]["@odata.deltaLink"], MINIMAL)[0] == [
        {"id": user.id, "jobTitle": "Changed mid-round"}
    ]


def test_a_delta_link_older_than_the_expiry_answers_sync_state_not_found(sim, graph):
    _, link = _round(graph)
    sim.set_knobs(delta_expiry_seconds=0)

    assert graph_error(graph(link)) == (400, "syncStateNotFound")


def test_the_expired_status_can_be_410(sim, graph):
    _, link = _round(graph)
    sim.set_knobs(delta_expiry_seconds=0, delta_expired_status=410)

    assert graph(link).status_code == 410


def test_expiring_all_links_also_stops_a_round_in_flight(sim, graph):
    _, link = _round(graph)
    first = graph(DELTA).json()
    sim.apply("expire_delta_links", tenant=CONTOSO)

    assert graph_error(graph(link)) == (400, "syncStateNotFound")
    assert graph_error(graph(first["@odata.nextLink"])) == (400, "syncStateNotFound")
    assert len(_round(graph)[0]) == 50  # a full pass works again


def test_a_garbage_delta_token_is_treated_as_expired(sim, graph):
    assert graph_error(graph("/users/delta?$deltatoken=bm9wZQ")) == (400, "syncStateNotFound")


def test_deltatoken_latest_returns_no_users_but_a_delta_link(sim, graph):
    body = graph("/users/delta?$deltatoken=latest&$select=displayName").json()

    assert body["value"] == []
    assert "@odata.deltaLink" in body


def test_delta_pages_are_microsofts_size_whatever_top_or_maxpagesize_ask(sim, graph):
    response = graph(f"{DELTA}&$top=10", headers={"Prefer": "odata.maxpagesize=5"})

    assert len(response.json()["value"]) == 20
    assert "Preference-Applied" not in response.headers


def test_the_delta_token_option_is_case_insensitive(sim, graph):
    body = graph("/users/delta?$select=displayName&$deltaToken=latest").json()

    assert body["value"] == []
    assert "@odata.deltaLink" in body


def test_filter_is_not_supported_on_delta(sim, graph):
    assert graph_error(graph("/users/delta?$filter=userType eq 'Member'")) == (
        400,
        "Request_UnsupportedQuery",
    )


def test_a_few_thousand_users_page_in_200_user_delta_pages_and_999_user_listing_pages():
    with running_simulator(users=3000, tenants=1, consented=[CONTOSO]) as sim:
        from microsoft_simulator.testing import app_token, session_for

        http = session_for(sim)
        token = app_token(sim, CONTOSO, http)

        def get(url):
            return http.get(url, headers={"Authorization": f"Bearer {token}"})

        delta_users, delta_bodies = all_pages(get, f"{sim.graph_url}/users/delta?$select={SELECT}&$top=999")
        users, bodies = all_pages(get, f"{sim.graph_url}/users?$select={SELECT}&$top=999")

    assert [len(b["value"]) for b in delta_bodies] == [200] * 15
    assert [len(b["value"]) for b in bodies] == [999, 999, 999, 3]
    assert len({u["id"] for u in delta_users}) == len({u["id"] for u in users}) == 3000
