"""What the integration admins share: who may use them (R3) and links between them."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from integrations.models import AzureConnection, SyncRun
from integrations.permissions import is_integration_staff
from portal.customers.models import Customer


def require_integration_staff(request: HttpRequest) -> None:
    """`admin_site.admin_view` only checks `is_staff`, so every custom view and action calls this."""
    if not is_integration_staff(request.user):
        raise PermissionDenied(gettext("You need the Microsoft Entra ID integration permission."))


def connection_of(customer: Customer) -> AzureConnection | None:
    return getattr(customer, "azure_connection", None)


def run_link(run: SyncRun) -> SafeString:
    url = reverse("admin:integrations_syncrun_change", args=[run.pk])
    return format_html('<a href="{}">{}</a>', url, gettext("run #%(number)s") % {"number": run.pk})


def changes_url(**filters: object) -> str:
    return f"{reverse('admin:integrations_fieldchange_changelist')}?{urlencode(filters)}"


class IntegrationPermissionMixin:
    """`manage_azure` as an admin permission, for `@admin.action(permissions=["manage_azure"])`."""

    def has_manage_azure_permission(self, request: HttpRequest) -> bool:
        return is_integration_staff(request.user)


class IntegrationAdmin(IntegrationPermissionMixin, admin.ModelAdmin):
    """Visible to integration staff only, and read-only for everyone (superusers included):
    connections change through the consent flow and services, runs and the audit log never."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_integration_staff(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_integration_staff(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
