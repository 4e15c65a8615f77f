"""The fetch step as Microsoft documents it (issue 13, findings 4 and 5): a
full pass takes the delta baseline and lists `/users` at 999 per page; delta
rounds follow the stored link, without `$top`, whatever page size Microsoft
chooses; both delta shapes and both `@removed` reasons; an expired delta link
means a full pass and an expired paging token restarts the pass; each run
records how many Graph requests it made."""

from __future__ import annotations

import pytest
import responses

from integrations.models import DirectoryUser
from integrations.sync.runner import MAX_PASS_RESTARTS
from portal.customers.models import Contact
from tests.microsoft.conftest import calls_to
from tests.microsoft.shapes import (
    GRAPH,
    delta_link,
    delta_page,
    graph_error,
    minimal_change,
    object_id,
    person,
    removed,
    skip_link,
    users_page,
)

SELECT = (
    "id,displayName,givenName,surname,jobTitle,mobilePhone,mail,userPrincipalName,"
    "officeLocation,department,accountEnabled,userType,assignedLicenses"
)
BASELINE = f"{GRAPH}/users/delta?$select={SELECT}&$deltaToken=latest"
USERS = f"{GRAPH}/users?$select={SELECT}&$top=999"
EXPIRED_PAGE = graph_error(
    "Directory_ExpiredPageToken",
    "The specified page token value has expired and can no longer be included in your request.",
)


def _full_directory(rsps, people, *, pages=1, token="baseline-1"):
    """The baseline answer, then `people` over `pages` pages of /users."""
    rsps.get(BASELINE, json=delta_page([], delta_link=delta_link(token)))
    size = -(-len(people) // pages)
    chunks = [people[i : i + size] for i in range(0, len(people), size)]
    for number, chunk in enumerate(chunks):
        url = USERS if number == 0 else skip_link("users", f"p{number}")
        following = skip_link("users", f"p{number + 1}") if number + 1 < len(chunks) else None
        rsps.get(url, json=users_page(chunk, following))


def test_a_full_pass_takes_the_baseline_then_lists_users_at_999_per_page(connection, rsps, sync):
    # Reference: https://learn.microsoft.com/en-us/graph/delta-query-overview ($deltaToken=latest)
    # Reference: https://learn.microsoft.com/en-us/graph/api/user-list?view=graph-rest-1.0 ($top up to 999)
    _full_directory(rsps, [person(n) for n in range(1, 7)], pages=3)

    run = sync(connection)

    assert (run.status, run.full_pass, run.fetched, run.created) == ("succeeded", True, 6, 6), run.error
    graph = calls_to(rsps, GRAPH)
    assert graph == [BASELINE, USERS, skip_link("users", "p1"), skip_link("users", "p2")]
    assert run.requests_made == 4  # one baseline, three pages; no mailbox to classify
    assert connection.delta_link == delta_link("baseline-1")


def test_a_delta_run_follows_the_stored_link_without_top(connection, rsps, sync):
    _full_directory(rsps, [person(1), person(2)])
    sync(connection)
    rsps.get(
        delta_link("baseline-1"),
        json=delta_page([minimal_change(1, jobTitle="Head of Sales")], delta_link=delta_link("d2")),
    )

    run = sync(connection)

    assert (run.full_pass, run.updated, run.requests_made) == (False, 1, 1)
    (url,) = [u for u in calls_to(rsps, GRAPH) if "baseline-1" in u]
    assert "$top" not in url
    assert Contact.objects.get(azure_object_id=object_id(1)).job_title == "Head of Sales"
    assert connection.delta_link == delta_link("d2")


@pytest.mark.parametrize("page_size", [1, 120, 200, 999])
def test_any_delta_page_size_gives_the_same_result(connection, rsps, sync, page_size):
    # $top is not supported on user delta: Microsoft picks the size (about 200 is reported).
    # Reference: https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0
    _full_directory(rsps, [person(n) for n in range(1, 241)])
    sync(connection)
    changes = [minimal_change(n, jobTitle=f"Title {n}") for n in range(1, 241)]
    chunks = [changes[i : i + page_size] for i in range(0, len(changes), page_size)]
    for number, chunk in enumerate(chunks):
        url = delta_link("baseline-1") if number == 0 else skip_link("users/delta", f"d{number}")
        last = number + 1 == len(chunks)
        rsps.get(
            url,
            json=delta_page(
                chunk,
                next_link=None if last else skip_link("users/delta", f"d{number + 1}"),
                delta_link=delta_link("d-end") if last else None,
            ),
        )

    run = sync(connection)

    assert (run.status, run.fetched, run.updated) == ("succeeded", 240, 240), run.error
    assert run.requests_made == len(chunks)
    assert set(Contact.objects.values_list("job_title", flat=True)) == {f"Title {n}" for n in range(1, 241)}


def test_the_default_and_the_minimal_delta_shapes_both_merge_into_the_mirror(connection, rsps, sync):
    # By default Graph may send more than the changed properties; with return=minimal only those.
    _full_directory(rsps, [person(1), person(2)])
    sync(connection)
    default_shape = person(1, jobTitle="CFO")  # every selected property, one of them changed
    minimal_shape = minimal_change(2, mobilePhone=None)  # only the changed one, cleared
    rsps.get(
        delta_link("baseline-1"), json=delta_page([default_shape, minimal_shape], delta_link=delta_link("d2"))
    )

    sync(connection)

    first, second = (DirectoryUser.objects.get(object_id=object_id(n)) for n in (1, 2))
    assert (first.job_title, first.mobile_phone) == ("CFO", "+39 347 555 0101")
    assert (second.job_title, second.mobile_phone) == ("Account Manager", "")


@pytest.mark.parametrize("reason", ["changed", "deleted"])
def test_removed_users_with_either_reason_leave_the_mirror(connection, rsps, sync, reason):
    _full_directory(rsps, [person(1), person(2)])
    sync(connection)
    rsps.get(delta_link("baseline-1"), json=delta_page([removed(2, reason)], delta_link=delta_link("d2")))

    sync(connection)

    assert DirectoryUser.objects.get(object_id=object_id(2)).removed is True
    assert Contact.objects.filter(azure_object_id=object_id(2)).exists()  # R8: contacts stay


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, graph_error("syncStateNotFound", "The sync state generation is not found or has expired.")),
        (410, graph_error("resyncRequired", "The delta token has expired. Resync is required.")),
    ],
)
def test_an_expired_delta_link_falls_back_to_a_full_pass(connection, rsps, sync, status, body):
    _full_directory(rsps, [person(1)])
    sync(connection)
    rsps.get(delta_link("baseline-1"), status=status, json=body)

    run = sync(connection)

    assert (run.status, run.full_pass) == ("succeeded", True), run.error
    assert any("expired" in w for w in run.warning_texts)


def test_an_expired_page_token_mid_pass_restarts_the_pass(connection, rsps, sync):
    _full_directory(rsps, [person(n) for n in range(1, 5)], pages=2)
    # The second page's token expires once: the pass starts again from the baseline.
    rsps.replace(responses.GET, skip_link("users", "p1"), status=400, json=EXPIRED_PAGE)
    rsps.add(responses.GET, skip_link("users", "p1"), json=users_page([person(3), person(4)]))
    # responses answers the replaced (expired) one first, then the added one.

    run = sync(connection)

    assert (run.status, run.fetched, run.created) == ("succeeded", 4, 4), run.error
    assert calls_to(rsps, GRAPH) == [
        BASELINE,
        USERS,
        skip_link("users", "p1"),
        BASELINE,
        USERS,
        skip_link("users", "p1"),
    ]
    assert run.requests_made == 6
    assert any("paging token expired" in w for w in run.warning_texts)


def test_restarts_are_bounded(connection, rsps, sync):
    _full_directory(rsps, [person(n) for n in range(1, 5)], pages=2)
    rsps.replace(responses.GET, skip_link("users", "p1"), status=400, json=EXPIRED_PAGE)

    run = sync(connection)

    assert (run.status, run.error_kind) == ("failed", "page_token_expired")
    assert calls_to(rsps, GRAPH).count(BASELINE) == MAX_PASS_RESTARTS + 1
    assert connection.health == "backing_off"
    assert "Nobody needs to act" in connection.health_reason


def test_throttling_with_a_fractional_retry_after_is_waited_exactly(connection, rsps, sync, waits):
    # Reference: https://learn.microsoft.com/en-us/graph/throttling
    rsps.get(
        BASELINE,
        status=429,
        headers={"Retry-After": "2.5"},
        json=graph_error("TooManyRequests", "Too many requests."),
    )
    _full_directory(rsps, [person(1)])

    run = sync(connection)

    assert run.status == "succeeded", run.error
    assert waits == [2.5]
    assert run.requests_made == 3
