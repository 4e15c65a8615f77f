"""Sync now and Disconnect for a set of customers: the glue the actions and
object tools share. Each calls one service and reports with `message_user`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from integrations.admin.base import connection_of, require_integration_staff, run_link
from integrations.models import SyncRun
from integrations.services.connections import REMOVE_APP_INSTRUCTIONS, connection_disconnect
from integrations.services.runs import sync_now
from portal.customers.models import Customer
from portal.users import signed_in_user


def _names(customers: Iterable[Customer]) -> str:
    return ", ".join(customer.name for customer in customers)


def _with_runs(pairs: Sequence[tuple[Customer, SyncRun]]) -> SafeString:
    return format_html_join(", ", "{} ({})", ((customer.name, run_link(run)) for customer, run in pairs))


def admin_history(request: HttpRequest, customer: Customer, message: str) -> None:
    """An admin action on a customer, in the customer's admin history (LogEntry)."""
    LogEntry.objects.log_actions(
        user_id=signed_in_user(request).pk,
        queryset=[customer],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )


def sync_customers(modeladmin: admin.ModelAdmin, request: HttpRequest, customers: Iterable[Customer]) -> None:
    """Queue a sync for each connected customer (R13) and say what happened to each."""
    require_integration_staff(request)
    started: list[tuple[Customer, SyncRun]] = []
    already: list[tuple[Customer, SyncRun]] = []
    not_connected: list[Customer] = []
    not_in_plan: list[Customer] = []
    for customer in customers:
        connection = connection_of(customer)
        if connection is None:
            not_connected.append(customer)
        elif not customer.azure_sync_available:
            not_in_plan.append(customer)
        else:
            result = sync_now(connection=connection, requested_by=signed_in_user(request))
            if result.started:
                admin_history(request, customer, gettext("Sync now (run #%(run)s)") % {"run": result.run.pk})
            (started if result.started else already).append((customer, result.run))
    if started:
        modeladmin.message_user(
            request, format_html(gettext("Sync started: {}."), _with_runs(started)), messages.SUCCESS
        )
    if already:
        modeladmin.message_user(
            request,
            format_html(
                gettext("A sync is already queued or running, no new one was started: {}."),
                _with_runs(already),
            ),
            messages.INFO,
        )
    if not_connected:
        modeladmin.message_user(
            request,
            gettext("Not connected to Microsoft Entra ID, nothing to sync: %(names)s.")
            % {"names": _names(not_connected)},
            messages.WARNING,
        )
    if not_in_plan:
        modeladmin.message_user(
            request,
            gettext("The Microsoft Entra ID sync is not included in the plan of: %(names)s.")
            % {"names": _names(not_in_plan)},
            messages.WARNING,
        )


def disconnect_customers(
    modeladmin: admin.ModelAdmin, request: HttpRequest, customers: Iterable[Customer]
) -> None:
    """Disconnect each connected customer (R14): contacts and history stay."""
    require_integration_staff(request)
    done, instructions = [], gettext(REMOVE_APP_INSTRUCTIONS)
    for customer in customers:
        connection = connection_of(customer)
        if connection is not None:
            instructions = connection_disconnect(connection=connection, actor=signed_in_user(request))
            admin_history(
                request,
                customer,
                gettext("Disconnected from tenant %(tenant)s") % {"tenant": connection.tenant_id},
            )
            done.append(customer)
    if not done:
        modeladmin.message_user(
            request, gettext("None of the selected customers is connected."), messages.WARNING
        )
        return
    modeladmin.message_user(
        request,
        gettext(
            "Disconnected from Microsoft Entra ID: %(names)s. Their contacts and sync history are kept. "
            "%(instructions)s"
        )
        % {"names": _names(done), "instructions": instructions},
        messages.SUCCESS,
    )


def disconnect_confirmation(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    customers: Sequence[Customer],
    *,
    action: str | None = None,
    selected: Sequence[object] = (),
    obj: object | None = None,
    cancel_url: str,
) -> TemplateResponse:
    """The first step, like `delete_selected`: what will be disconnected, what stays.

    From an action the form posts back to the changelist with the action and
    the selection; from an object tool it posts to the same URL.
    """
    require_integration_staff(request)
    connected = [(customer, connection_of(customer)) for customer in customers if connection_of(customer)]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Disconnect from Microsoft Entra ID?"),
        "subtitle": None,
        "opts": modeladmin.opts,
        "object": obj,
        "connected": connected,
        "not_connected": [customer for customer in customers if connection_of(customer) is None],
        "instructions": gettext(REMOVE_APP_INSTRUCTIONS),
        "action": action,
        "selected": selected,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": cancel_url,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/integrations/disconnect_confirmation.html", context)


def disconnect_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    customers: Sequence[Customer],
    *,
    action: str,
    selected: Sequence[object],
    cancel_url: str,
) -> TemplateResponse | None:
    """A Disconnect admin action: the confirmation page first, the disconnect on `post=yes`."""
    if request.POST.get("post") == "yes":
        disconnect_customers(modeladmin, request, customers)
        return None
    return disconnect_confirmation(
        modeladmin, request, customers, action=action, selected=selected, cancel_url=cancel_url
    )
