"""The connection's management page, Sync now and Disconnect (R13-R15)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from integrations import permissions, selectors
from integrations.models import AzureConnection
from integrations.services import policies, runs
from integrations.services.connections import REMOVE_APP_INSTRUCTIONS, connection_disconnect
from integrations.sync.plan import SkipReason
from integrations.views import safety
from integrations.views.common import connection_for, customer_for
from portal.users import signed_in_user


@login_required
def manage(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id)
    connection = AzureConnection.objects.filter(customer=customer).first()
    # Only the current connection's runs; those of earlier connections (another
    # tenant, or before a disconnect) are listed apart, collapsed.
    recent = list(connection.runs.select_related("requested_by")[:10]) if connection else []
    earlier = customer.sync_runs.exclude(connection=connection) if connection else customer.sync_runs.all()
    context = {
        "customer": customer,
        "connection": connection,
        "can_manage": permissions.can_manage(request.user, customer),
        "mappings": connection.mappings.select_related("site").order_by("value") if connection else [],
        "runs": recent,
        "earlier_runs": list(earlier.order_by("-created_at", "-id")[:10]),
        "last_run": next((r for r in recent if not r.dry_run and not r.is_active), None),
        "active_run": selectors.active_run(connection=connection) if connection else None,
        "skip_labels": SkipReason.LABELS,
        "instructions": _(REMOVE_APP_INSTRUCTIONS),
        **safety.manage_safety_context(connection),
        "policy_lines": policies.describe(policies.policy_of(connection)) if connection else [],
    }
    return render(request, "integrations/manage.html", context)


@login_required
@require_POST
def sync_now(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    try:
        result = runs.sync_now(connection=connection_for(customer), requested_by=signed_in_user(request))
    except runs.SyncNotAllowed as exc:
        messages.error(request, str(exc))
        return redirect("integrations:manage", customer_id=customer.pk)
    (messages.success if result.started else messages.info)(request, result.message)
    return redirect("integrations:run", customer_id=customer.pk, run_id=result.run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET asks for confirmation (what stays, what goes); POST disconnects."""
    customer = customer_for(request, customer_id, manage=True)
    connection = connection_for(customer)
    if request.method == "POST":
        instructions = connection_disconnect(connection=connection, actor=signed_in_user(request))
        messages.success(
            request,
            _("%(customer)s is disconnected: the portal no longer reads its directory. %(instructions)s")
            % {"customer": customer.name, "instructions": instructions},
        )
        return redirect("integrations:manage", customer_id=customer.pk)
    return render(
        request,
        "integrations/disconnect_confirm.html",
        {"customer": customer, "connection": connection, "instructions": _(REMOVE_APP_INSTRUCTIONS)},
    )
