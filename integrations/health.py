"""What a finished run means for its connection: when the next automatic
sync happens and whether the connection is healthy (R12, R15).

Our tables own the retry policy: a transient failure backs off (15 minutes,
doubling, capped at the sync interval); revoked consent or a broken app
credential needs a person and stops automatic runs; a long streak of
failures quarantines the connection to one attempt a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_noop

from integrations import alerts
from integrations.graph.errors import AppCredentialsError, ConsentRequiredError, TenantNotFoundError
from integrations.models import AzureConnection, Health, SyncRun

FIRST_BACKOFF = timedelta(minutes=15)
QUARANTINE_AFTER_FAILURES = 6
QUARANTINE_INTERVAL = timedelta(days=1)
NEEDS_PERSON = (ConsentRequiredError, AppCredentialsError, TenantNotFoundError)


def sync_interval() -> timedelta:
    return timedelta(hours=settings.AZURE_SYNC_INTERVAL_HOURS)


def record_success(connection: AzureConnection, run: SyncRun) -> None:
    finished = run.finished_at or timezone.now()
    _save(
        connection,
        last_sync_at=finished,
        next_sync_at=finished + sync_interval(),
        health=Health.HEALTHY,
        health_reason="",
        consecutive_failures=0,
    )


def record_failure(connection: AzureConnection, run: SyncRun, error: Exception) -> None:
    if run.dry_run:
        return
    failures = connection.consecutive_failures + 1
    now = run.finished_at or timezone.now()
    if isinstance(error, NEEDS_PERSON):
        _save(
            connection,
            health=Health.NEEDS_ATTENTION,
            health_reason=_attention_reason(error),
            consecutive_failures=failures,
            next_sync_at=None,
        )
        return
    if failures >= QUARANTINE_AFTER_FAILURES:
        _save(
            connection,
            health=Health.QUARANTINED,
            health_reason=gettext_noop(
                "%(failures)d syncs in a row failed; the portal now retries once a day. If this goes on, "
                "ask your service provider to look at it. Last error: %(error)s"
            ),
            health_reason_params={"failures": failures, "error": run.error},
            consecutive_failures=failures,
            next_sync_at=now + QUARANTINE_INTERVAL,
        )
        return
    _save(
        connection,
        health=Health.BACKING_OFF,
        health_reason=gettext_noop(
            "The last sync failed (%(error)s). Nobody needs to act: the portal retries automatically."
        ),
        health_reason_params={"error": run.error},
        consecutive_failures=failures,
        next_sync_at=now + backoff_delay(failures),
    )


def backoff_delay(failures: int) -> timedelta:
    """15 minutes after the first failure, doubling, never beyond the sync interval."""
    factor: int = 2 ** max(failures - 1, 0)
    return min(FIRST_BACKOFF * factor, sync_interval())


def _attention_reason(error: Exception) -> str:
    """What happened and who must act, in words a customer's administrator understands.

    Stored in English (the msgid); pages show it in the reader's language.
    """
    if isinstance(error, AppCredentialsError):
        return gettext_noop(
            "Microsoft rejected the portal's own credentials (its secret or certificate has expired or "
            "changed). Your service provider must renew them; nothing is needed on your side."
        )
    if isinstance(error, TenantNotFoundError):
        return gettext_noop(
            "Microsoft no longer knows this tenant. An administrator of this customer must disconnect it "
            "and connect the right Microsoft tenant."
        )
    return gettext_noop(
        "The portal's app was removed from your Microsoft tenant, or its permission was withdrawn. "
        "An administrator of your Microsoft tenant must click Reconnect to Microsoft Entra ID and grant consent again."
    )


def _save(connection: AzureConnection, **values: datetime | str | int | dict[str, object] | None) -> None:
    if "health_reason" in values:
        values.setdefault("health_reason_params", {})  # a new reason never keeps an old one's values
    for name, value in values.items():
        setattr(connection, name, value)
    AzureConnection.objects.filter(pk=connection.pk).update(**values)
    alerts.health_changed(connection)
