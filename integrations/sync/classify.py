"""Classify disabled accounts: a shared, room or equipment mailbox is imported
(R5), a disabled person is not. The answer is kept in the mirror so it is
asked once per account, not once per run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from integrations.graph.errors import PermissionDeniedError
from integrations.models import AzureConnection, DirectoryUser

CHUNK = 200  # ids per client call; the client splits them into $batch requests of 20

FALLBACK_WARNING = (
    "MailboxSettings.Read is not granted, so shared mailboxes were recognised by their usual shape "
    "(disabled, unlicensed, with an email address). Grant it to the app for an exact classification."
)


def classify_disabled_users(
    connection: AzureConnection,
    fetch_purposes: Callable[[Sequence[str]], dict[str, str]],
    *,
    on_chunk: Callable[[], None] = lambda: None,
) -> list[str]:
    """Ask Graph for the mailbox purpose of every unclassified disabled account.

    Returns warnings for the run. Without the permission, the plan falls back
    to a heuristic and the warning says so.
    """
    pending = list(
        DirectoryUser.objects.filter(connection=connection, removed=False, account_enabled=False, purpose="")
        .order_by("object_id")
        .values_list("object_id", flat=True)
    )
    readable = True
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start : start + CHUNK]
        try:
            purposes = fetch_purposes(chunk)
        except PermissionDeniedError:
            readable = False
            break
        _store_purposes(connection, purposes)
        on_chunk()
    if pending and connection.mailbox_settings_readable != readable:
        connection.mailbox_settings_readable = readable
        AzureConnection.objects.filter(pk=connection.pk).update(mailbox_settings_readable=readable)
    return [] if readable or not pending else [FALLBACK_WARNING]


def _store_purposes(connection: AzureConnection, purposes: dict[str, str]) -> None:
    """One UPDATE per purpose value (a handful), however many accounts."""
    by_purpose: dict[str, list[str]] = {}
    for object_id, purpose in purposes.items():
        known = (
            purpose if purpose and purpose in DirectoryUser.Purpose.values else DirectoryUser.Purpose.OTHERS
        )
        by_purpose.setdefault(known, []).append(object_id)
    for purpose, object_ids in by_purpose.items():
        DirectoryUser.objects.filter(connection=connection, object_id__in=object_ids).update(purpose=purpose)
