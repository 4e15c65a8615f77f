"""Paging through `/users/delta` and `/users` and parsing records, at Graph's real URLs."""

from __future__ import annotations

import json
import threading
import time

import pytest
import responses

from integrations.graph.client import GraphClient
from integrations.graph.errors import DeltaExpiredError, MalformedResponseError, MicrosoftError
from integrations.graph.models import SELECT, USER_PROPERTIES
from integrations.reasons import shown
from tests.integrations.graph_helpers import GRAPH, TENANT, TokenRecorder, graph_error, graph_user

# A delta round starts from a stored delta link; the baseline and /users start a full pass.
FIRST_DELTA = f"{GRAPH}/users/delta?$deltatoken=round-1-a1b2c3"
BASELINE = f"{GRAPH}/users/delta?$select={SELECT}&$deltaToken=latest"
USERS = f"{GRAPH}/users?$select={SELECT}&$top=999"
NEXT_1 = f"{GRAPH}/users/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjsXoYQp_dpA3cNJWc"
DELTA_LINK = f"{GRAPH}/users/delta?$deltatoken=oEBwdSP6uehIAxQOWq_3Ksh_TLol6KIm3stvdc6hGhZRi1hQ7Spe__dpvm3U4zReE4CYXC2zOtaKdi7KHlUtC2CbRiBIUwOxPKLa"
ALL_ATTRIBUTES = frozenset(USER_PROPERTIES.values())


@pytest.fixture(autouse=True)
def graph_settings(settings):
    settings.GRAPH_API_URL = GRAPH


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client() -> GraphClient:
    return GraphClient(TENANT, token_getter=TokenRecorder(), sleep=lambda seconds: None)


def page(users: list, *, next_link: str | None = None, delta_link: str | None = None) -> dict:
    body: dict = {"@odata.context": f"{GRAPH}/$metadata#users(id,displayName)", "value": users}
    if next_link:
        body["@odata.nextLink"] = next_link
    if delta_link:
        body["@odata.deltaLink"] = delta_link
    return body


# -- paging --------------------------------------------------------------------------------
def test_it_follows_next_links_until_the_delta_link(rsps, client):
    rsps.get(FIRST_DELTA, json=page([graph_user(1), graph_user(2)], next_link=NEXT_1))
    rsps.get(NEXT_1, json=page([graph_user(3)], delta_link=DELTA_LINK))

    pages = list(client.iter_user_delta(FIRST_DELTA))

    assert [len(p.users) for p in pages] == [2, 1]
    assert (pages[0].next_link, pages[0].delta_link) == (NEXT_1, None)
    assert (pages[1].next_link, pages[1].delta_link) == (None, DELTA_LINK)
    assert [call.request.url for call in rsps.calls] == [FIRST_DELTA, NEXT_1]


def test_a_full_pass_takes_the_delta_baseline_then_lists_users_at_999_per_page(rsps, client):
    # Reference: https://learn.microsoft.com/en-us/graph/delta-query-overview ("sync from now")
    rsps.get(BASELINE, json=page([], delta_link=DELTA_LINK))
    rsps.get(USERS, json=page([graph_user(1)], next_link=f"{USERS}&$skiptoken=p2"))
    rsps.get(f"{USERS}&$skiptoken=p2", json=page([graph_user(2)]))

    pages = list(client.iter_user_delta())

    assert [call.request.url for call in rsps.calls] == [BASELINE, USERS, f"{USERS}&$skiptoken=p2"]
    assert [len(p.users) for p in pages] == [1, 1]
    assert (pages[0].delta_link, pages[-1].delta_link) == (None, DELTA_LINK)
    request = rsps.calls[0].request
    assert (
        "$select=id,displayName,givenName,surname,jobTitle,mobilePhone,mail,userPrincipalName," in request.url
    )
    assert request.headers["Authorization"] == f"Bearer {client._token.token}"
    assert {call.request.method for call in rsps.calls} == {"GET"}


def test_a_custom_page_size_goes_into_top_of_the_users_listing(rsps, client):
    rsps.get(BASELINE, json=page([], delta_link=DELTA_LINK))
    rsps.get(f"{GRAPH}/users?$select={SELECT}&$top=50", json=page([]))

    assert len(list(client.iter_user_delta(page_size=50))) == 1


@pytest.mark.parametrize("size", [0, 1000])
def test_a_page_size_outside_graph_s_range_is_refused(client, size):
    with pytest.raises(ValueError):
        client.iter_user_delta(page_size=size)


def test_a_stored_delta_link_is_requested_as_is(rsps, client):
    rsps.get(DELTA_LINK, json=page([], delta_link=f"{DELTA_LINK}-next"))

    pages = list(client.iter_user_delta(DELTA_LINK))

    assert rsps.calls[0].request.url == DELTA_LINK
    assert pages[0].delta_link == f"{DELTA_LINK}-next"


def test_the_next_page_is_requested_as_soon_as_its_link_is_known(rsps, client):
    """With Microsoft's latency a page's round trip overlaps the parsing and writing of the one
    before; one request ahead at most, so memory stays bounded."""
    next_2 = f"{NEXT_1}-2"
    rsps.get(FIRST_DELTA, json=page([graph_user(1)], next_link=NEXT_1))
    rsps.get(NEXT_1, json=page([graph_user(2)], next_link=next_2))
    rsps.get(next_2, json=page([graph_user(3)], delta_link=DELTA_LINK))

    pages = client.iter_user_delta(FIRST_DELTA)
    first = next(pages)

    assert first.users[0].display_name == "User 1"
    assert eventually(lambda: len(rsps.calls) == 2), "the second page was not requested ahead"
    time.sleep(0.05)
    assert len(rsps.calls) == 2  # not the third: its link is in the second page, not handed over yet
    assert [p.users[0].display_name for p in pages] == ["User 2", "User 3"]
    assert [call.request.url for call in rsps.calls] == [FIRST_DELTA, NEXT_1, next_2]


def test_an_error_on_the_page_requested_ahead_is_raised_at_that_page(rsps, client):
    rsps.get(FIRST_DELTA, json=page([graph_user(1)], next_link=NEXT_1))
    rsps.get(NEXT_1, status=400, json={"error": {"code": "BadRequest", "message": "Invalid request."}})

    pages = client.iter_user_delta(FIRST_DELTA)

    assert next(pages).users[0].display_name == "User 1"
    with pytest.raises(MicrosoftError, match="BadRequest"):
        next(pages)


def test_a_delta_rounds_next_link_answering_410_resync_required_is_delta_expired_at_that_page(rsps, client):
    """Microsoft may answer any request of a delta round, a next link included, with 410 Gone
    (resync required): the round is over and the runner reads the whole directory instead.
    Reference: https://learn.microsoft.com/en-us/graph/delta-query-overview"""
    rsps.get(FIRST_DELTA, json=page([graph_user(1)], next_link=NEXT_1))
    rsps.get(NEXT_1, status=410, json=graph_error("resyncRequired", "Resync required."))

    pages = client.iter_user_delta(FIRST_DELTA)

    assert next(pages).users[0].display_name == "User 1"
    with pytest.raises(DeltaExpiredError) as caught:
        next(pages)
    assert caught.value.status == 410
    assert "skiptoken" not in str(caught.value)


def test_a_reader_that_stops_early_does_not_wait_for_the_request_ahead(client):
    def requests_ahead() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "graph-next-page"}

    before = requests_ahead()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(FIRST_DELTA, json=page([graph_user(1)], next_link=NEXT_1))
        rsps.get(NEXT_1, json=page([graph_user(2)], delta_link=DELTA_LINK))

        pages = client.iter_user_delta(FIRST_DELTA)
        next(pages)
        pages.close()  # returns at once; the request ahead, if it started, finishes unread

        assert eventually(lambda: not requests_ahead() - before)
        assert [call.request.url for call in rsps.calls] in ([FIRST_DELTA], [FIRST_DELTA, NEXT_1])


def test_a_malformed_page_fails_before_the_next_one_is_requested(rsps, client):
    rsps.get(FIRST_DELTA, json={"value": "not a list", "@odata.nextLink": NEXT_1})

    with pytest.raises(MalformedResponseError, match="'value' is not a list"):
        next(client.iter_user_delta(FIRST_DELTA))

    assert [call.request.url for call in rsps.calls] == [FIRST_DELTA]


def eventually(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_iter_users_pages_through_the_plain_listing(rsps, client):
    first = f"{GRAPH}/users?$select={SELECT}&$top=999"
    second = f"{GRAPH}/users?$select={SELECT}&$top=999&$skiptoken=X2Y3"
    rsps.get(first, json=page([graph_user(1)], next_link=second))
    rsps.get(second, json=page([graph_user(2)]))

    pages = list(client.iter_users())

    assert [p.users[0].object_id for p in pages] == [graph_user(1)["id"], graph_user(2)["id"]]
    assert pages[-1].next_link is None


def test_a_delta_page_without_next_or_delta_link_is_malformed(rsps, client):
    # Ending without a delta link would look like a complete (but short) listing.
    rsps.get(FIRST_DELTA, json=page([graph_user(1)]))

    with pytest.raises(MalformedResponseError):
        list(client.iter_user_delta(FIRST_DELTA))


# -- parsing records ---------------------------------------------------------------------------
def test_a_full_record_is_parsed_into_every_attribute(rsps, client):
    rsps.get(FIRST_DELTA, json=page([graph_user(7)], delta_link=DELTA_LINK))

    (user,) = next(client.iter_user_delta(FIRST_DELTA)).users

    assert user.present == ALL_ATTRIBUTES
    assert user.object_id == "00000000-0000-4000-8000-000000000007"
    assert (user.given_name, user.surname, user.job_title) == ("Ada", "Lovelace", "Engineer")
    assert (user.mail, user.user_principal_name) == ("user7@contoso.com", "user7@contoso.com")
    assert (user.office_location, user.department, user.mobile_phone) == (
        "Milan HQ",
        "R&D",
        "+39 333 000 0000",
    )
    assert (user.account_enabled, user.user_type, user.has_license, user.removed) == (
        True,
        "Member",
        True,
        False,
    )


def test_a_delta_record_with_only_changed_properties_marks_only_those_present(rsps, client):
    changed = {
        "@odata.type": "#microsoft.graph.user",
        "id": graph_user(1)["id"],
        "jobTitle": "CTO",
        "mobilePhone": None,
    }
    rsps.get(DELTA_LINK, json=page([changed], delta_link=f"{DELTA_LINK}2"))

    (user,) = next(client.iter_user_delta(DELTA_LINK)).users

    assert user.present == {"object_id", "job_title", "mobile_phone"}
    assert user.job_title == "CTO"
    assert user.mobile_phone is None  # a present null clears the value
    assert user.given_name is None and "given_name" not in user.present  # absent: leave the mirror alone


def test_a_removed_user_is_flagged_removed(rsps, client):
    removed = {
        "@odata.type": "#microsoft.graph.user",
        "id": graph_user(3)["id"],
        "@removed": {"reason": "changed"},
    }
    rsps.get(DELTA_LINK, json=page([removed], delta_link=f"{DELTA_LINK}2"))

    (user,) = next(client.iter_user_delta(DELTA_LINK)).users

    assert user.removed is True
    assert user.present == {"object_id"}


@pytest.mark.parametrize(
    ("licenses", "expected"), [([], False), ([{"skuId": "x", "disabledPlans": []}], True)]
)
def test_assigned_licenses_become_has_license(rsps, client, licenses, expected):
    rsps.get(FIRST_DELTA, json=page([graph_user(1, assignedLicenses=licenses)], delta_link=DELTA_LINK))

    (user,) = next(client.iter_user_delta(FIRST_DELTA)).users

    assert user.has_license is expected


def test_unusable_records_are_dropped_and_described_without_losing_the_page(rsps, client):
    records = [
        graph_user(1),
        {"displayName": "No id at all"},
        {"id": 42, "displayName": "Numeric id"},
        "not an object",
        graph_user(5, accountEnabled="yes"),
        graph_user(6, givenName={"first": "Ada"}),
        graph_user(7, assignedLicenses="E5"),
        graph_user(8),
    ]
    rsps.get(FIRST_DELTA, json=page(records, delta_link=DELTA_LINK))

    result = next(client.iter_user_delta(FIRST_DELTA))

    assert [u.object_id for u in result.users] == [graph_user(1)["id"], graph_user(8)["id"]]
    problems = [shown(problem) for problem in result.problems]
    assert len(problems) == 6
    assert problems[0] == "record 1: no string id"
    assert (
        problems[3] == "record 4: user 00000000-0000-4000-8000-000000000005: accountEnabled is not a boolean"
    )
    assert all("Ada" not in problem for problem in problems)  # no personal data in problems


def test_unknown_properties_are_ignored(rsps, client):
    record = graph_user(1, businessPhones=["+39 02 000"], **{"@odata.type": "#microsoft.graph.user"})
    rsps.get(FIRST_DELTA, json=page([record], delta_link=DELTA_LINK))

    (user,) = next(client.iter_user_delta(FIRST_DELTA)).users

    assert user.present == ALL_ATTRIBUTES


# -- malformed answers and foreign links ----------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    ["<html>Service temporarily unavailable</html>", json.dumps([graph_user(1)]), json.dumps({"value": {"id": "x"}}),
     json.dumps({"@odata.deltaLink": DELTA_LINK}), "null"],
)  # fmt: skip
def test_a_body_that_is_not_a_page_is_malformed(rsps, client, body):
    rsps.get(FIRST_DELTA, body=body, content_type="application/json")

    with pytest.raises(MalformedResponseError):
        list(client.iter_user_delta(FIRST_DELTA))


@pytest.mark.parametrize(
    "foreign",
    [
        "https://graph.microsoft.com.evil.example/v1.0/users/delta?$skiptoken=abc",
        "https://graph.microsoft.com@evil.example/v1.0/users/delta?$skiptoken=abc",
        "http://graph.microsoft.com/v1.0/users/delta?$skiptoken=abc",
        "https://graph.microsoft.com:8443/v1.0/users/delta?$skiptoken=abc",
        "/v1.0/users/delta?$skiptoken=abc",
    ],
)
def test_a_next_link_to_another_origin_is_refused_and_never_requested(rsps, client, foreign):
    rsps.get(FIRST_DELTA, json=page([graph_user(1)], next_link=foreign))

    with pytest.raises(MalformedResponseError) as caught:
        list(client.iter_user_delta(FIRST_DELTA))

    assert caught.value.code == "ForeignHost"
    assert "ForeignHost" in str(caught.value)
    assert [call.request.url for call in rsps.calls] == [FIRST_DELTA]


def test_a_foreign_delta_link_on_the_last_page_is_refused(rsps, client):
    rsps.get(
        FIRST_DELTA,
        json=page([graph_user(1)], delta_link="https://evil.example/v1.0/users/delta?$deltatoken=x"),
    )

    with pytest.raises(MalformedResponseError) as caught:
        list(client.iter_user_delta(FIRST_DELTA))

    assert caught.value.code == "ForeignHost"


def test_a_stored_delta_link_to_another_origin_is_refused_before_any_request(rsps, client):
    with pytest.raises(MalformedResponseError) as caught:
        client.iter_user_delta("https://evil.example/v1.0/users/delta?$deltatoken=x")

    assert caught.value.code == "ForeignHost"
    assert len(rsps.calls) == 0


def test_a_simulator_origin_is_honoured_when_graph_api_url_points_at_it(rsps, settings):
    settings.GRAPH_API_URL = "https://localhost:8443/v1.0"
    round_link = "https://localhost:8443/v1.0/users/delta?$deltatoken=r1"
    local_next = "https://localhost:8443/v1.0/users/delta?$skiptoken=abc"
    rsps.get(round_link, json=page([], next_link=local_next))
    rsps.get(local_next, json=page([], delta_link="https://LOCALHOST:8443/v1.0/users/delta?$deltatoken=y"))
    client = GraphClient(TENANT, token_getter=TokenRecorder(), sleep=lambda seconds: None)

    assert len(list(client.iter_user_delta(round_link))) == 2


@responses.activate
def test_delta_requests_send_neither_top_nor_a_page_size_preference():
    # $top is not supported on user delta; its page size is Microsoft's to choose.
    # Reference: https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0
    responses.get(BASELINE, json={"value": [], "@odata.deltaLink": f"{GRAPH}/users/delta?$deltatoken=x"})
    responses.get(f"{GRAPH}/users?$select={SELECT}&$top=500", json={"value": []})
    responses.get(f"{GRAPH}/users/delta?$deltatoken=x", json={"value": [], "@odata.deltaLink": DELTA_LINK})
    client = GraphClient(TENANT, token_getter=TokenRecorder(), sleep=lambda s: None)

    list(client.iter_user_delta(page_size=500))
    list(client.iter_user_delta(f"{GRAPH}/users/delta?$deltatoken=x"))

    delta_calls = [c.request for c in responses.calls if "/users/delta" in c.request.url]
    assert all("$top" not in r.url and "maxpagesize" not in r.headers.get("Prefer", "") for r in delta_calls)
