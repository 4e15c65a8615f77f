"""The safety net on the portal (docs/design.md §6.1): approve or reject a held run,
undo a run (with a confirmation listing what will happen), pause and resume.

Every action is a POST with the CSRF token, for administrators of that
customer (or integration staff), on runs of that customer only; a replayed
POST finds the run already decided or undone and changes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from integrations import permissions, selectors
from integrations.models import SyncRun
from integrations.services import pause
from integrations.services.held_runs import DecisionNotAllowed, run_approve, run_reject
from integrations.services.undo import LISTED, UndoNotAllowed, undo_plan, undo_refusal, undo_start
from integrations.views.common import connection_for, customer_for, run_for
from portal.customers.models import Customer
from portal.users import signed_in_user


def run_safety_context(request: HttpRequest, customer: Customer, run: SyncRun) -> dict:
    """What the run page shows of the safety net: decision buttons, undo, and what followed."""
    return {
        "can_manage": permissions.can_manage(request.user, customer),
        "undo_refusal": undo_refusal(run),
        "undo_runs": list(run.undo_runs.order_by("-created_at")),
        "approval_runs": list(run.approval_runs.order_by("-created_at")),
    }


def manage_safety_context(connection) -> dict:
    """The management page's banners: a run waiting for approval, a pause and why."""
    if connection is None:
        return {}
    return {
        "held_run": selectors.held_run(connection=connection),
        "pause_banner": pause.banner(connection) if connection.is_paused else "",
    }


@login_required
@require_POST
def approve(request: HttpRequest, customer_id: int, run_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    held = run_for(customer, run_id)
    try:
        approval = run_approve(run=held, by=signed_in_user(request))
    except DecisionNotAllowed as exc:
        messages.error(request, str(exc))
        return redirect("integrations:run", customer_id=customer.pk, run_id=held.pk)
    messages.success(
        request,
        gettext("Approved: run #%(id)d re-plans against the directory already read and applies it.")
        % {"id": approval.pk},
    )
    return redirect("integrations:run", customer_id=customer.pk, run_id=approval.pk)


@login_required
@require_POST
def reject(request: HttpRequest, customer_id: int, run_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    held = run_for(customer, run_id)
    try:
        run_reject(run=held, by=signed_in_user(request))
    except DecisionNotAllowed as exc:
        messages.error(request, str(exc))
        return redirect("integrations:run", customer_id=customer.pk, run_id=held.pk)
    messages.success(
        request, gettext("Rejected: nothing was written. Syncs are paused until you resume them.")
    )
    return redirect("integrations:manage", customer_id=customer.pk)


@login_required
@require_http_methods(["GET", "POST"])
def undo(request: HttpRequest, customer_id: int, run_id: int) -> HttpResponse:
    """GET lists what the undo will do now; the POST (Confirm) queues it."""
    customer = customer_for(request, customer_id, manage=True)
    run = run_for(customer, run_id)
    if request.method == "POST":
        try:
            undo_run = undo_start(run=run, requested_by=signed_in_user(request))
        except UndoNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect("integrations:run", customer_id=customer.pk, run_id=run.pk)
        messages.success(
            request,
            gettext("Undo started as run #%(id)d. Automatic syncs are paused until you resume them.")
            % {"id": undo_run.pk},
        )
        return redirect("integrations:run", customer_id=customer.pk, run_id=undo_run.pk)
    refusal = undo_refusal(run)
    plan = None if refusal else undo_plan(run)
    context = {
        "customer": customer,
        "run": run,
        "here": gettext("Undo run #%(id)d") % {"id": run.pk},
        "refusal": refusal,
        "plan": plan,
        "listed": LISTED,
        "reverts": plan.reverts[:LISTED] if plan else [],
        "conflicts": plan.conflicts[:LISTED] if plan else [],
        "removals": plan.removals[:LISTED] if plan else [],
        "kept": plan.kept[:LISTED] if plan else [],
        "recreates": plan.recreates[:LISTED] if plan else [],
    }
    return render(request, "integrations/undo_confirm.html", context)


@login_required
@require_POST
def pause_syncs(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    if pause.connection_pause(connection=connection_for(customer), by=signed_in_user(request)):
        messages.success(
            request, gettext("Syncs paused: no automatic sync and no Sync now until you resume.")
        )
    else:
        messages.info(request, gettext("Syncs were already paused."))
    return redirect("integrations:manage", customer_id=customer.pk)


@login_required
@require_POST
def resume_syncs(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    if pause.connection_resume(connection=connection_for(customer)):
        messages.success(
            request, gettext("Syncs resumed: the next automatic sync runs at its time; Sync now works again.")
        )
    else:
        messages.info(request, gettext("Syncs were not paused."))
    return redirect("integrations:manage", customer_id=customer.pk)
