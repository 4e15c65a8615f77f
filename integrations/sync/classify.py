"""Classify disabled accounts: a shared, room or equipment mailbox is imported
(R5), a disabled person is not. The answer is kept in the mirror so it is
asked once per account, not once per run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import transaction

from integrations.graph.errors import PermissionDeniedError
from integrations.models import AzureConnection, DirectoryUser
from integrations.sync import bulk
from integrations.sync.pipeline import read_ahead

CHUNK = 200  # ids per client call; the client splits them into $batch requests of 20

FALLBACK_WARNING = (
    "MailboxSettings.Read is not granted, so shared mailboxes were recognised by their usual shape "
    "(disabled, unlicensed, with an email address). Grant it to the app for an exact classification."
)
UNCLASSIFIED_WARNING = (
    "%(count)d disabled account(s) could not be classified (Exchange refused to show their mailbox "
    "settings): they were judged by the usual shape of a shared mailbox and will be asked again at the "
    "next sync."
)


def classify_disabled_users(
    connection: AzureConnection,
    fetch_purposes: Callable[[Sequence[str]], dict[str, str]],
    *,
    on_chunk: Callable[[], None] = lambda: None,
) -> list[str]:
    """Ask Graph for the mailbox purpose of every unclassified disabled account.

    `on_chunk` runs inside each chunk's write transaction, before the write
    (the run's lease check). Returns warnings for the run. Without the
    permission, the plan falls back to a heuristic and the warning says so.
    """
    # Sorted here, not by the database: ORDER BY would walk the unique index and
    # visit every row of the connection in key order (SQLite: ten times slower).
    pending = sorted(
        DirectoryUser.objects.filter(connection=connection, removed=False, account_enabled=False, purpose="")
        .order_by()
        .values_list("object_id", flat=True)
    )
    readable = True
    unclassified = 0
    chunks = (pending[start : start + CHUNK] for start in range(0, len(pending), CHUNK))
    # The Graph client asks for the next chunk while this one is stored.
    answers = read_ahead(getattr(fetch_purposes, "__self__", None), map(fetch_purposes, chunks))
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
    if pending and connection.mailbox_settings_readable != readable:
        connection.mailbox_settings_readable = readable
        AzureConnection.objects.filter(pk=connection.pk).update(mailbox_settings_readable=readable)
    if not readable and pending:
        return [FALLBACK_WARNING]
    return [UNCLASSIFIED_WARNING % {"count": unclassified}] if unclassified else []


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
