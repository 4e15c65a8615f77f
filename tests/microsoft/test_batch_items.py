"""`$batch` items stand alone (issue 13, finding 2): one mailbox refused by
Exchange is one unclassified account, never a reason to stop classifying the
others or to say MailboxSettings.Read is missing."""

from __future__ import annotations

import json

import responses

from integrations.models import DirectoryUser
from integrations.sync.classify import FALLBACK_WARNING
from tests.microsoft.conftest import TokenEndpoint
from tests.microsoft.shapes import (
    GRAPH,
    batch_item,
    delta_link,
    delta_page,
    graph_error,
    object_id,
    person,
    shared_mailbox,
    user_purpose,
    users_page,
)

BATCH = f"{GRAPH}/$batch"


def _directory(rsps, users):
    rsps.get(f"{GRAPH}/users/delta", json=delta_page([], delta_link=delta_link("baseline-1")))
    rsps.get(f"{GRAPH}/users", json=users_page(users))


def _purposes(connection) -> dict[str, str]:
    return dict(DirectoryUser.objects.filter(connection=connection).values_list("object_id", "purpose"))


def test_a_403_item_leaves_only_its_account_unclassified_and_mailbox_settings_readable(
    connection, rsps, sync, waits
):
    # Reference: https://learn.microsoft.com/en-us/graph/json-batching (one status per item)
    # Reference: https://learn.microsoft.com/en-us/graph/throttling (a 429 item has its own Retry-After)
    _directory(rsps, [person(1), shared_mailbox(2), shared_mailbox(3), shared_mailbox(4), shared_mailbox(5)])
    denied = graph_error("ErrorAccessDenied", "Access to OData is disabled.")
    missing = graph_error(
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )
    throttled = graph_error("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
    answers = iter(
        [
            {"2": batch_item("2", 200, user_purpose(2, "shared")), "3": batch_item("3", 403, denied),
             "4": batch_item("4", 404, missing), "5": batch_item("5", 429, throttled, {"Retry-After": "1.5"})},
            {"5": batch_item("5", 200, user_purpose(5, "room"))},
        ]
    )  # fmt: skip

    def batch(request):
        items = next(answers)
        ids = {sub["url"].split("/")[2]: sub["id"] for sub in json.loads(request.body)["requests"]}
        by_number = {str(int(oid[-12:])): rid for oid, rid in ids.items()}
        body = [{**items[n], "id": rid} for n, rid in by_number.items()]
        return 200, {}, json.dumps({"responses": body})

    rsps.add_callback(responses.POST, BATCH, callback=batch)

    run = sync(connection)

    assert run.status == "succeeded", run.error
    purposes = _purposes(connection)
    assert purposes[object_id(2)] == "shared"
    assert purposes[object_id(3)] == ""  # refused by Exchange: unclassified, judged by its shape
    assert purposes[object_id(4)] == "none"
    assert purposes[object_id(5)] == "room"  # retried alone, after its own Retry-After
    assert waits == [1.5]
    assert connection.mailbox_settings_readable is True
    assert FALLBACK_WARNING not in run.warnings
    assert any("1 disabled account(s) could not be classified" in w for w in run.warning_texts)
    # The person, the shared and the room mailbox, and the unclassified one (shaped like a mailbox);
    # the disabled account without a mailbox is skipped.
    assert run.created == 4


def test_mailbox_settings_are_not_granted_only_when_the_token_lacks_the_role(
    connection, entra_tokens, rsps, sync
):
    entra_tokens.answers = [(200, TokenEndpoint.token(["User.Read.All"]))]
    _directory(rsps, [person(1), shared_mailbox(2)])

    run = sync(connection)

    assert run.status == "succeeded"
    assert FALLBACK_WARNING in run.warnings
    assert connection.mailbox_settings_readable is False
    assert not [call for call in rsps.calls if call.request.url == BATCH]  # never asked
