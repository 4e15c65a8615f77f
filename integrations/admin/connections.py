"""Connections: read-only, with the site mapping inline; Sync now and Disconnect as actions."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integrations.admin import operations, safety
from integrations.admin.base import IntegrationAdmin, changes_url
from integrations.lease import is_leased
from integrations.models import AzureConnection, SiteMapping
from integrations.permissions import is_integration_staff


class SiteMappingInline(admin.TabularInline):
    """Shown, not edited: the mapping is saved through the mapping services (portal mapping page)."""

    model = SiteMapping
    fields = ["value", "site"]
    readonly_fields = ["value", "site"]
    extra = 0
    verbose_name_plural = _("Site mapping (edit it on the portal's mapping page)")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("site")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_integration_staff(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AzureConnection)
class AzureConnectionAdmin(IntegrationAdmin):
    """Created only by the consent flow or `azure_connect`; removed only by Disconnect
    (which cancels queued runs and keeps contacts), never by an ORM delete."""

    list_display = [
        "customer",
        "tenant_name",
        "tenant_id",
        "health",
        "last_sync_at",
        "next_sync_at",
        "connected_at",
    ]
    list_filter = ["health", "mapping_attribute"]
    search_fields = ["customer__name", "tenant_id", "tenant_name"]
    list_select_related = ["customer"]
    inlines = [SiteMappingInline]
    actions = ["sync_now", "disconnect", safety.pause_connections, safety.resume_connections]
    change_form_template = "admin/integrations/azureconnection/change_form.html"
    # The delta link and the run lease are internals: shown as dates and a flag only.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "customer",
                    "tenant_name",
                    "tenant_id",
                    "mapping_attribute",
                    "connected_at",
                    "connected_by",
                ]
            },
        ),
        (
            _("Schedule and health"),
            {
                "fields": [
                    "last_sync_at",
                    "next_sync_at",
                    "sync_in_progress",
                    "health",
                    "health_reason_shown",
                    "consecutive_failures",
                    "paused",
                    "brake_percent",
                    "brake_minimum",
                    "history",
                ]
            },
        ),
        (
            _("Directory reading"),
            {"fields": ["full_pass_completed_at", "delta_link_saved_at", "mailbox_settings_readable"]},
        ),
        (
            _("Policies"),
            {
                "fields": [
                    "leavers",
                    "identity",
                    "scope_groups",
                    "licensed_only",
                    "portal_owned_fields",
                    "policy_page",
                ]
            },
        ),
    ]
    readonly_fields = ["sync_in_progress", "history", "paused", "policy_page", "health_reason_shown"]

    @admin.display(description=_("health reason"))
    def health_reason_shown(self, obj: AzureConnection) -> str:
        # Stored as a message id and its values: shown in the reader's language, never edited.
        return obj.health_reason_text or "–"

    @admin.display(description=_("Change the policies"))
    def policy_page(self, obj: AzureConnection):
        # Changed through the policy page (previewed, recorded with its author), like the mapping.
        url = reverse("integrations:policies", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, _("Policy page (preview, then save)"))

    @admin.display(description=_("Paused"))
    def paused(self, obj: AzureConnection) -> str:
        return safety.paused_state(obj)

    def get_urls(self):
        from django.urls import path

        from integrations.admin.health import health_view

        view = self.admin_site.admin_view(lambda request: health_view(self, request))
        return [path("health/", view, name="integrations_health"), *super().get_urls()]

    @admin.display(description=_("Sync in progress"), boolean=True)
    def sync_in_progress(self, obj: AzureConnection) -> bool:
        return is_leased(obj)

    @admin.display(description=_("History"))
    def history(self, obj: AzureConnection):
        runs_url = f"{reverse('admin:integrations_syncrun_changelist')}?customer__id__exact={obj.customer_id}"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            runs_url,
            gettext("Sync runs"),
            changes_url(customer__id__exact=obj.customer_id),
            gettext("Audit log"),
        )

    @admin.action(description=_("Sync now"), permissions=["manage_azure"])
    def sync_now(self, request: HttpRequest, queryset) -> None:
        operations.sync_customers(self, request, [c.customer for c in queryset.select_related("customer")])

    @admin.action(description=_("Disconnect from Microsoft Entra ID…"), permissions=["manage_azure"])
    def disconnect(self, request: HttpRequest, queryset):
        connections = list(queryset.select_related("customer"))
        return operations.disconnect_action(
            self,
            request,
            [connection.customer for connection in connections],
            action="disconnect",
            selected=[connection.pk for connection in connections],
            cancel_url=reverse("admin:integrations_azureconnection_changelist"),
        )
