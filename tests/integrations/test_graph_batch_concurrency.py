"""`$batch` requests run in parallel, bounded, each honouring its own items' Retry-After,
with the same answers and the same request count as one at a time."""

from __future__ import annotations

import json
import threading
import time

import pytest
import responses

from integrations.graph.client import BATCH_CONCURRENCY, GraphClient
from integrations.graph.errors import TransientError
from tests.integrations.graph_helpers import GRAPH, TENANT, TokenRecorder, graph_error

BATCH = f"{GRAPH}/$batch"


@pytest.fixture(autouse=True)
def graph_settings(settings):
    settings.GRAPH_API_URL = GRAPH
    settings.AZURE_CA_BUNDLE = ""


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def oid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _purpose_of(n: int) -> str:
    return ("user", "shared", "room", "equipment")[n % 4]


class Exchange:
    """A `$batch` endpoint that answers every item with its purpose after `delay`,
    counts the requests in flight, and throttles the items listed in `throttle_once`
    (429 with their own Retry-After) the first time they are asked."""

    def __init__(self, *, delay: float = 0.05, throttle_once: dict[str, str] | None = None) -> None:
        self.delay = delay
        self.throttle_once = dict(throttle_once or {})
        self.in_flight = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay)
            answers = []
            for sub in json.loads(request.body)["requests"]:
                object_id = sub["url"].split("/")[2]
                with self._lock:
                    retry_after = self.throttle_once.pop(object_id, None)
                if retry_after is not None:
                    # Reference: https://learn.microsoft.com/en-us/graph/throttling (per-item Retry-After)
                    answers.append(
                        {"id": sub["id"], "status": 429, "headers": {"Retry-After": retry_after},
                         "body": graph_error("ApplicationThrottled", "MailboxConcurrency limit.")}
                    )  # fmt: skip
                    continue
                value = _purpose_of(int(object_id[-12:]))
                answers.append({"id": sub["id"], "status": 200, "headers": {}, "body": {"value": value}})
            return 200, {}, json.dumps({"responses": answers})
        finally:
            with self._lock:
                self.in_flight -= 1


def _client(waits: list[float], **options) -> GraphClient:
    getter = TokenRecorder(roles=("User.Read.All", "MailboxSettings.Read"))

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    return GraphClient(TENANT, token_getter=getter, sleep=sleep, **options)


def test_batches_run_in_parallel_but_never_more_than_the_bound(rsps):
    exchange = Exchange(delay=0.05)
    rsps.add_callback(responses.POST, BATCH, callback=exchange)
    client = _client([])
    ids = [oid(n) for n in range(400)]  # 20 batches

    started = time.perf_counter()
    result = client.get_mailbox_purposes(ids)
    elapsed = time.perf_counter() - started

    assert result == {oid(n): _purpose_of(n) for n in range(400)}
    assert exchange.peak == BATCH_CONCURRENCY  # concurrent, and bounded
    assert client.requests_made == exchange.calls == 20
    # 20 requests of 50 ms each, 4 at a time: about 5 rounds, far from the 20 of one at a time.
    assert elapsed < 20 * 0.05 * 0.75


def test_the_bound_holds_across_threads_sharing_one_client(rsps):
    exchange = Exchange(delay=0.03)
    rsps.add_callback(responses.POST, BATCH, callback=exchange)
    client = _client([], batch_concurrency=2)
    results: list[dict[str, str]] = []

    def classify(first: int) -> None:
        results.append(client.get_mailbox_purposes([oid(n) for n in range(first, first + 100)]))

    threads = [threading.Thread(target=classify, args=(first,)) for first in (0, 100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert exchange.peak == 2
    assert sum(len(r) for r in results) == 300
    assert client.requests_made == exchange.calls == 15


def test_throttled_items_are_retried_after_their_own_retry_after_and_counted(rsps):
    throttled = {oid(3): "1.5", oid(47): "2", oid(95): "0.5"}  # in three different batches
    exchange = Exchange(delay=0.0, throttle_once=throttled)
    rsps.add_callback(responses.POST, BATCH, callback=exchange)
    waits: list[float] = []
    client = _client(waits)

    result = client.get_mailbox_purposes([oid(n) for n in range(100)])

    assert result == {oid(n): _purpose_of(n) for n in range(100)}
    assert sorted(waits) == [0.5, 1.5, 2.0]  # each batch waited as its own item asked
    assert client.requests_made == exchange.calls == 5 + 3


def test_parallel_and_sequential_paths_give_identical_answers_and_request_counts(rsps):
    throttled = {oid(7): "1", oid(61): "3"}
    answers = {}
    counts = {}
    for concurrency in (1, BATCH_CONCURRENCY):
        exchange = Exchange(delay=0.0, throttle_once=throttled)
        rsps.add_callback(responses.POST, BATCH, callback=exchange)
        waits: list[float] = []
        client = _client(waits, batch_concurrency=concurrency)
        ids = [oid(n) for n in range(130)] + [oid(5)]  # a duplicate is asked once
        answers[concurrency] = client.get_mailbox_purposes(ids)
        counts[concurrency] = (client.requests_made, exchange.calls, sorted(waits))
        rsps.reset()

    assert answers[1] == answers[BATCH_CONCURRENCY]
    assert list(answers[1]) == list(answers[BATCH_CONCURRENCY])  # same order too
    assert counts[1] == counts[BATCH_CONCURRENCY] == (7 + 2, 7 + 2, [1.0, 3.0])


def test_an_item_still_throttled_fails_the_call_and_stops_the_batches_not_started(rsps):
    calls = {"n": 0}
    lock = threading.Lock()

    def always_throttled_first_item(request):
        with lock:
            calls["n"] += 1
        time.sleep(0.01)
        subs = json.loads(request.body)["requests"]
        body = [
            {"id": sub["id"], "status": 429, "headers": {"Retry-After": "1"},
             "body": graph_error("ApplicationThrottled", "Slow down.")}
            if sub["url"].split("/")[2] == oid(0)
            else {"id": sub["id"], "status": 200, "headers": {}, "body": {"value": "user"}}
            for sub in subs
        ]  # fmt: skip
        return 200, {}, json.dumps({"responses": body})

    rsps.add_callback(responses.POST, BATCH, callback=always_throttled_first_item)
    waits: list[float] = []
    client = _client(waits, max_attempts=3)

    with pytest.raises(TransientError):
        client.get_mailbox_purposes([oid(n) for n in range(2000)])  # 100 batches

    assert waits == [1.0, 1.0]
    # The failing batch's 3 attempts, and at most the other batches already started or queued
    # meanwhile: never the whole hundred.
    assert client.requests_made == calls["n"] < 100
