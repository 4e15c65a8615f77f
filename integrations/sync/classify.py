"""Classify disabled accounts: a shared, room or equipment mailbox is imported
(R5), a disabled person is not. The answer is kept in the mirror so it is
asked once per account, not once per run."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import transaction
from django.utils.translation import gettext_noop

from integrations.graph.errors import PermissionDeniedError
from integrations.graph.models import GraphUser
from integrations.graph.prefetch import prefetched
from integrations.models import AzureConnection, DirectoryUser
from integrations.reasons import Message, message
from integrations.sync import bulk

CHUNK = 200  # ids per client call; the client splits them into $batch requests of 20
BATCH = 20  # Graph's $batch limit (integrations.graph.client.BATCH_LIMIT)

FALLBACK_WARNING = gettext_noop(
    "MailboxSettings.Read is not granted, so shared mailboxes were recognised by their usual shape "
    "(disabled, unlicensed, with an email address). Grant it to the app for an exact classification."
)
UNCLASSIFIED_WARNING = gettext_noop(
    "%(count)d disabled account(s) could not be classified (Exchange refused to show their mailbox "
    "settings): they were judged by the usual shape of a shared mailbox and will be asked again at the "
    "next sync."
)


class EarlyClassifier:
    """Classifies each fetched page's disabled accounts while the next pages are fetched.

    With Microsoft's latency, classification is round trips (one `$batch` per 20
    accounts): started per page, they overlap the fetch instead of following it.
    Threads only ask Graph; every write stays in the caller's thread, under the
    run's lease check. `classify_disabled_users` then drains what is in flight
    and asks for whatever is left (accounts whose page did not say they are
    disabled, or a pass restarted): each account is asked once per run either way.
    """

    def __init__(
        self,
        connection: AzureConnection,
        fetch_purposes: Callable[[Sequence[str]], dict[str, str]],
        *,
        on_chunk: Callable[[], None] = lambda: None,
        workers: int = 2,
    ) -> None:
        self.connection = connection
        self._fetch = fetch_purposes
        self._on_chunk = on_chunk
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-classify")
        self._futures: deque[Future[dict[str, str]]] = deque()
        self.asked: set[str] = set()
        self._buffer: list[str] = []  # asked, not sent yet: less than a whole `$batch`
        self.unclassified = 0
        self.readable: bool | None = None  # unknown until Graph answered or refused

    def page_written(self, users: Iterable[GraphUser], new_disabled: Sequence[str] | None = None) -> None:
        """Queue the page's disabled accounts still unclassified in the mirror; store answers ready.

        `new_disabled`, when the page's rows were all inserted just now, are its
        disabled accounts: unclassified without asking the mirror, since a new row
        has no purpose yet. Right after a large import the planner's statistics
        still describe an empty table, and the lookup below scans the connection's
        every row (a cost that grows with the square of the import).
        Called inside the page's transaction, after its lease check: the answers
        ready are stored in it, without checking the lease again (outside any
        transaction, each is stored in its own, checked as usual).
        """
        if self.readable is not False:
            if new_disabled is not None:
                pending = sorted(oid for oid in new_disabled if oid not in self.asked)
            else:
                pending = self._unclassified(users)
            self.asked.update(pending)
            self._buffer.extend(pending)
            # Whole `$batch` requests only: a page's few accounts wait for the next page's,
            # so the run sends as many requests as asking them all at the end would.
            full = len(self._buffer) - len(self._buffer) % BATCH
            if full:
                self._submit(self._buffer[:full])
                del self._buffer[:full]
        self.store(wait=False, guarded=transaction.get_connection().in_atomic_block)

    def _unclassified(self, users: Iterable[GraphUser]) -> list[str]:
        disabled = [u.object_id for u in users if u.account_enabled is False and not u.removed]
        if not disabled:
            return []
        return sorted(
            oid
            for oid in DirectoryUser.objects.filter(
                connection=self.connection, object_id__in=disabled, removed=False, purpose=""
            )
            .order_by()
            .values_list("object_id", flat=True)
            if oid not in self.asked
        )

    def _submit(self, object_ids: list[str]) -> None:
        self._futures.append(self._pool.submit(self._fetch, object_ids))

    def store(self, *, wait: bool, guarded: bool = False) -> None:
        """Write the answers received (all of them, waiting, if `wait`), oldest first:
        in the caller's transaction if there is one (a page's), else one per answer.
        `guarded`: that transaction already checked the run's lease (`on_chunk` is
        not run again)."""
        if wait and self._buffer and self.readable is not False:
            self._submit(list(self._buffer))
            self._buffer.clear()
        while self._futures and (wait or self._futures[0].done()):
            try:
                purposes = self._futures.popleft().result()
            except PermissionDeniedError:
                self.readable = False  # the final step asks again, finds the same, and warns
                continue
            answered = {oid: purpose for oid, purpose in purposes.items() if purpose}
            self.unclassified += len(purposes) - len(answered)
            self.readable = True
            with transaction.atomic(savepoint=False):  # the caller's page transaction, or its own
                if not guarded:
                    self._on_chunk()
                _store_purposes(self.connection, answered)

    def close(self) -> None:
        """Stop: requests not started are dropped, the ones in flight finish unread."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def classify_disabled_users(
    connection: AzureConnection,
    fetch_purposes: Callable[[Sequence[str]], dict[str, str]],
    *,
    on_chunk: Callable[[], None] = lambda: None,
    early: EarlyClassifier | None = None,
) -> list[Message]:
    """Ask Graph for the mailbox purpose of every unclassified disabled account.

    `on_chunk` runs inside each chunk's write transaction, before the write
    (the run's lease check). `early` holds what was already asked during the
    fetch. Returns warnings for the run. Without the permission, the plan
    falls back to a heuristic and the warning says so.
    """
    if early is not None:
        early.store(wait=True)
    asked = early.asked if early is not None else set()
    # Sorted here, not by the database: ORDER BY would walk the unique index and
    # visit every row of the connection in key order (SQLite: ten times slower).
    pending = sorted(
        oid
        for oid in DirectoryUser.objects.filter(
            connection=connection, removed=False, account_enabled=False, purpose=""
        )
        .order_by()
        .values_list("object_id", flat=True)
        if oid not in asked
    )
    readable = True if early is None or early.readable is None else early.readable
    unclassified = early.unclassified if early is not None else 0
    chunks = (pending[start : start + CHUNK] for start in range(0, len(pending), CHUNK))
    # The next chunk is asked for while this one is stored.
    answers = prefetched(map(fetch_purposes, chunks))
    try:
        for purposes in answers:
            # One transaction per chunk, checked by `on_chunk` (the run's lease) before it writes.
            answered = {oid: purpose for oid, purpose in purposes.items() if purpose}
            unclassified += len(purposes) - len(answered)
            with transaction.atomic():
                on_chunk()
                _store_purposes(connection, answered)
    except PermissionDeniedError:
        # Raised only when the app token's roles lack MailboxSettings.Read; one mailbox
        # refused by Exchange (a 403 item) leaves only that account unclassified.
        readable = False
    asked_any = bool(pending or asked)
    if asked_any and connection.mailbox_settings_readable != readable:
        connection.mailbox_settings_readable = readable
        AzureConnection.objects.filter(pk=connection.pk).update(mailbox_settings_readable=readable)
    if not readable and asked_any:
        return [FALLBACK_WARNING]
    return [message(UNCLASSIFIED_WARNING, count=unclassified)] if unclassified else []


def _store_purposes(connection: AzureConnection, purposes: dict[str, str]) -> None:
    """One prepared UPDATE, executed per account: each finds its row by the unique index,
    however stale the planner's statistics are right after a large import."""
    known = DirectoryUser.Purpose.values
    bulk.set_purposes(
        connection.pk,
        [
            (purpose if purpose and purpose in known else DirectoryUser.Purpose.OTHERS, object_id)
            for object_id, purpose in purposes.items()
        ],
    )
