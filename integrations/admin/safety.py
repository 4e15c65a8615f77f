"""Safety-net actions of the admin (docs/design.md §6.1): approve, reject and undo runs,
pause and resume connections. Each decision is a `delete_selected`-style
two-step action (a confirmation page, then `post=yes`); each calls one service
per object and reports with `message_user`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext, gettext_lazy

from integrations.admin.base import require_integration_staff, run_link
from integrations.models import AzureConnection, SyncRun
from integrations.services.held_runs import DecisionNotAllowed, run_approve, run_reject
from integrations.services.pause import connection_pause, connection_resume
from integrations.services.undo import UndoNotAllowed, undo_plan, undo_refusal, undo_start
from portal.users import signed_in_user

Item = tuple[SyncRun, str | None, str]  # run, why it cannot be done (or None), what will happen


def _confirm(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    action: str,
    title: str,
    button: str,
    items: list[Item],
) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.opts,
        "items": items,
        "doable": [item for item in items if item[1] is None],
        "action": action,
        "button": button,
        "selected": [run.pk for run, _refusal, _what in items],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": reverse("admin:integrations_syncrun_changelist"),
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/integrations/run_action_confirmation.html", context)


def _each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    runs: Sequence[SyncRun],
    do: Callable[[SyncRun], SyncRun | None],
    errors: tuple[type[Exception], ...],
    done_message: str,
) -> None:
    done, refused = [], []
    for run in runs:
        try:
            result = do(run)
        except errors as exc:
            refused.append((run, str(exc)))
        else:
            done.append(result or run)
    if done:
        modeladmin.message_user(
            request,
            format_html_join(", ", "{}", ((run_link(r),) for r in done)).join([done_message + " ", "."]),
            messages.SUCCESS,
        )
    for run, why in refused:
        modeladmin.message_user(request, f"#{run.pk}: {why}", messages.WARNING)


def _held_items(runs: Sequence[SyncRun]) -> list[Item]:
    return [
        (
            run,
            None if run.is_awaiting_decision else gettext("not waiting for a decision"),
            run.error_text,
        )
        for run in runs
    ]


@admin.action(description=gettext_lazy("Approve held runs…"), permissions=["manage_azure"])
def approve_held(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> TemplateResponse | None:
    require_integration_staff(request)
    runs = list(queryset.select_related("connection__customer", "customer"))
    if request.POST.get("post") == "yes":
        _each(
            modeladmin,
            request,
            runs,
            lambda run: run_approve(run=run, by=signed_in_user(request)),
            (DecisionNotAllowed,),
            gettext("Approved; applying in"),
        )
        return None
    return _confirm(
        modeladmin,
        request,
        action="approve_held",
        title=gettext("Approve these held runs?"),
        button=gettext("Yes, approve and apply"),
        items=_held_items(runs),
    )


@admin.action(description=gettext_lazy("Reject held runs…"), permissions=["manage_azure"])
def reject_held(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> TemplateResponse | None:
    require_integration_staff(request)
    runs = list(queryset.select_related("connection__customer", "customer"))
    if request.POST.get("post") == "yes":

        def reject(run: SyncRun) -> None:
            run_reject(run=run, by=signed_in_user(request))

        _each(
            modeladmin,
            request,
            runs,
            reject,
            (DecisionNotAllowed,),
            gettext("Rejected (nothing written, syncs paused):"),
        )
        return None
    return _confirm(
        modeladmin,
        request,
        action="reject_held",
        title=gettext("Reject these held runs? Nothing is written and their connections pause."),
        button=gettext("Yes, reject"),
        items=_held_items(runs),
    )


@admin.action(description=gettext_lazy("Undo runs…"), permissions=["manage_azure"])
def undo_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> TemplateResponse | None:
    require_integration_staff(request)
    runs = list(queryset.select_related("connection", "customer"))
    if request.POST.get("post") == "yes":
        _each(
            modeladmin,
            request,
            runs,
            lambda run: undo_start(run=run, requested_by=signed_in_user(request)),
            (UndoNotAllowed,),
            gettext("Undo started (syncs of the connection paused):"),
        )
        return None
    items: list[Item] = []
    for run in runs:
        refusal = undo_refusal(run)
        what = ""
        if refusal is None:
            plan = undo_plan(run)
            what = gettext(
                "Fields put back: %(fields)d (contacts: %(contacts)d). Created contacts deleted: %(deleted)d. "
                "Left alone: conflicts %(conflicts)d, changed contacts %(kept)d."
            ) % {
                "fields": len(plan.reverts),
                "contacts": plan.contacts_reverted,
                "deleted": len(plan.removals),
                "conflicts": len(plan.conflicts),
                "kept": len(plan.kept),
            }
        items.append((run, refusal, what))
    return _confirm(
        modeladmin,
        request,
        action="undo_runs",
        title=gettext("Undo these runs? Automatic syncs of their connections pause."),
        button=gettext("Yes, undo"),
        items=items,
    )


@admin.action(description=gettext_lazy("Pause syncs"), permissions=["manage_azure"])
def pause_connections(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    require_integration_staff(request)
    paused = [
        c
        for c in queryset.select_related("customer")
        if connection_pause(connection=c, by=signed_in_user(request))
    ]
    modeladmin.message_user(
        request,
        gettext("Paused: %(names)s.") % {"names": ", ".join(c.customer.name for c in paused) or "—"},
        messages.SUCCESS if paused else messages.INFO,
    )


@admin.action(description=gettext_lazy("Resume syncs"), permissions=["manage_azure"])
def resume_connections(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    require_integration_staff(request)
    resumed = [c for c in queryset.select_related("customer") if connection_resume(connection=c)]
    modeladmin.message_user(
        request,
        gettext("Resumed: %(names)s.") % {"names": ", ".join(c.customer.name for c in resumed) or "—"},
        messages.SUCCESS if resumed else messages.INFO,
    )


def paused_state(connection: AzureConnection) -> str:
    if not connection.is_paused:
        return gettext("No")
    return f"{connection.get_pause_reason_display()} ({connection.paused_at:%Y-%m-%d %H:%M})"
