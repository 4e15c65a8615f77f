"""Telling people when a connection breaks and when it heals.

`health_changed` is called after a connection's health was saved (one line in
`integrations.health`). It decides, against what people were last told
(`HealthAlertState`), whether this is a change worth an e-mail: entering
needs-attention (revoked consent among its causes) or quarantine, or healing
after one of those. The e-mails leave after the commit, never inside a sync
transaction, as django-q2 tasks: one to the customer's administrators, one to
the MSP's operations address. A task whose sending fails schedules itself
again with a growing delay (the cluster itself tries each task once).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy, gettext_noop

from integrations.models import AzureConnection, Health, HealthAlertState, SyncRun
from integrations.reasons import translated
from portal.customers.models import Membership
from portal.mail import absolute_url, send_email

logger = logging.getLogger(__name__)

ALERTING = (Health.NEEDS_ATTENTION, Health.QUARANTINED)
MAX_DELIVERY_ATTEMPTS = 6
ADMINS, OPS = "admins", "ops"


def health_changed(connection: AzureConnection) -> str | None:
    """Queue the alert or recovery e-mails this health warrants; returns "alert", "recovered" or None.

    Never breaks the caller (the end of a sync run): a failure here is logged.
    """
    try:
        return _health_changed(connection)
    except Exception:
        logger.exception("Could not decide the health alert of connection %s", connection.pk)
        return None


def _health_changed(connection: AzureConnection) -> str | None:
    new = connection.health
    with transaction.atomic():
        state, _created = HealthAlertState.objects.select_for_update().get_or_create(connection=connection)
        if new in ALERTING and state.alerted != new:
            event = "alert"
        elif new == Health.HEALTHY and state.alerted:
            event = "recovered"
        else:
            return None
        state.alerted = new if event == "alert" else ""
        state.changed_at = timezone.now()
        state.save(update_fields=["alerted", "changed_at"])
        payload = _payload(connection, event)
        transaction.on_commit(lambda: _enqueue(payload))
    return event


def run_held(run: SyncRun) -> None:
    """Tell the customer's administrators and the MSP that a run waits for a decision (design.md §6.1).

    Called once per held run, by the brake, right after the run was held; the
    e-mails leave after the commit like the health alerts.
    """
    payload = {
        "event": "held",
        "customer_id": run.customer_id,
        "tenant": run.tenant_id,
        "health": Health.HEALTHY,
        "reason": run.error,  # a message id and its values: put in the reader's language by `deliver`
        "reason_params": run.error_params,
        "fix": gettext_noop("Review the held changes on the run page, then approve or reject them."),
        "run_id": run.pk,
    }
    transaction.on_commit(lambda: _enqueue(payload))


def _payload(connection: AzureConnection, event: str) -> dict:
    """Everything the e-mails need, copied now: the connection may be gone when they are sent."""
    from integrations.health_selectors import ConnectionHealth, attention_fix_message

    last_failed = connection.runs.filter(status="failed").order_by("-created_at", "-id").first()
    row = ConnectionHealth(
        connection=connection, last_error_kind=last_failed.error_kind if last_failed else ""
    )
    if connection.health == Health.NEEDS_ATTENTION:
        fix = attention_fix_message(row)
    else:
        fix = gettext_noop(
            "Read the failed runs on the integration page, fix the cause, then click Sync now."
        )
    return {
        "event": event,
        "customer_id": connection.customer_id,
        "tenant": connection.tenant_name or connection.tenant_id,
        "health": connection.health,
        "reason": connection.health_reason,  # a message id: put in the reader's language by `deliver`
        "reason_params": connection.health_reason_params,
        "fix": fix,  # a message id too, like the reason
    }


def _enqueue(payload: dict) -> None:
    from django_q.tasks import async_task

    for audience in (ADMINS, OPS):
        async_task("integrations.alerts.deliver", payload, audience, 1, group="alerts")


def recipients(audience: str, customer_id: int) -> list[str]:
    if audience == OPS:
        return [settings.OPS_EMAIL] if settings.OPS_EMAIL else []
    return list(
        Membership.objects.filter(customer_id=customer_id, role=Membership.Role.ADMIN, user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def deliver(payload: dict, audience: str, attempt: int = 1) -> int:
    """The task: send one audience's e-mail; on failure schedule another attempt, then fail loudly."""
    from portal.customers.models import Customer

    customer = Customer.objects.filter(pk=payload["customer_id"]).first()
    if customer is None:
        return 0
    held = payload["event"] == "held"
    context = {
        "customer": customer,
        "tenant": payload["tenant"],
        "recovered": payload["event"] == "recovered",
        # Put together when the e-mail is rendered, in the e-mail's language.
        "state_label": gettext_lazy("a run is held for approval")
        if held
        else Health(payload["health"]).label,
        "reason": lazy(translated, str)(payload["reason"], payload.get("reason_params")),
        "fix": lazy(translated, str)(payload["fix"]),
        "link": absolute_url(_link(payload, audience, customer.pk)),
    }
    try:
        return send_email("connection_alert", to=recipients(audience, customer.pk), context=context)
    except Exception:
        if attempt < MAX_DELIVERY_ATTEMPTS:
            _retry_later(payload, audience, attempt + 1)
        logger.exception(
            "Alert e-mail to %s for customer %s failed (attempt %s)", audience, customer.pk, attempt
        )
        raise


def _link(payload: dict, audience: str, customer_id: int) -> str:
    if audience == OPS:
        return reverse("admin:integrations_health")
    if payload.get("run_id"):
        return reverse("integrations:run", kwargs={"customer_id": customer_id, "run_id": payload["run_id"]})
    return reverse("integrations:manage", kwargs={"customer_id": customer_id})


def _retry_later(payload: dict, audience: str, attempt: int) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    delay = timedelta(minutes=2 ** (attempt - 1))
    schedule(
        "integrations.alerts.deliver",
        payload,
        audience,
        attempt,
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + delay,
        repeats=1,
    )
