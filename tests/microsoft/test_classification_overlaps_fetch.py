"""Disabled accounts are classified page by page while the next pages are fetched
(issue 20): their `$batch` requests overlap the listing instead of following it,
each account is still asked once, and the run ends as the sequential path did."""

from __future__ import annotations

import json
import threading

import responses

from integrations.models import DirectoryUser
from tests.microsoft.shapes import (
    GRAPH,
    delta_link,
    delta_page,
    object_id,
    person,
    shared_mailbox,
    skip_link,
    users_page,
)

BATCH = f"{GRAPH}/$batch"


def test_the_first_pages_mailboxes_are_asked_before_the_last_page_is_served(connection, rsps, sync):
    # Reference: https://learn.microsoft.com/en-us/graph/api/user-list?view=graph-rest-1.0 (paging)
    # Twenty mailboxes on the first page: one whole $batch, sent at once. The last two wait
    # for the end of the listing (requests are never sent half empty).
    pages = {
        "p1": ([person(1), *(shared_mailbox(n) for n in range(2, 22))], "p2"),
        "p2": ([person(22), shared_mailbox(23)], "p3"),
        "p3": ([person(24), shared_mailbox(25)], None),
    }
    batch_seen = threading.Event()
    served_before_batch: list[str] = []
    asked: list[str] = []

    rsps.get(f"{GRAPH}/users/delta", json=delta_page([], delta_link=delta_link("baseline-1")))

    def users(request):
        token = request.url.rsplit("skiptoken=", 1)[1] if "skiptoken=" in request.url else "p1"
        if token == "p3":
            # The last page waits for a classification request: it comes only if the
            # first pages' disabled accounts are asked while the listing goes on.
            batch_seen.wait(timeout=5)
        if not batch_seen.is_set():
            served_before_batch.append(token)
        records, following = pages[token]
        return 200, {}, json.dumps(users_page(records, skip_link("users", following) if following else None))

    def batch(request):
        subs = json.loads(request.body)["requests"]
        asked.extend(sub["url"].split("/")[2] for sub in subs)
        batch_seen.set()
        answers = [{"id": s["id"], "status": 200, "headers": {}, "body": {"value": "shared"}} for s in subs]
        return 200, {}, json.dumps({"responses": answers})

    rsps.add_callback(responses.GET, f"{GRAPH}/users", callback=users)
    rsps.add_callback(responses.POST, BATCH, callback=batch)

    run = sync(connection)

    assert run.status == "succeeded", run.error
    assert "p3" not in served_before_batch  # the batch came while the listing was still going
    mailboxes = {object_id(n) for n in (*range(2, 22), 23, 25)}
    assert sorted(asked) == sorted(mailboxes)  # each asked once, none twice
    stored = dict(DirectoryUser.objects.filter(connection=connection).values_list("object_id", "purpose"))
    assert {oid for oid, purpose in stored.items() if purpose == "shared"} == mailboxes
    # As many requests as asking them all at the end: the baseline, 3 pages, ceil(22 / 20) batches.
    assert sum(1 for call in rsps.calls if call.request.url == BATCH) == 2
    assert run.requests_made == 1 + 3 + 2
    assert connection.mailbox_settings_readable is True
    assert run.created == 25
