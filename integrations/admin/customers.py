"""The integration's tools on the Customer and Site admins: actions, columns, a
filter, object-tool buttons and the custom admin views behind them (`get_urls` +
`admin_view`).

The customers app does not know about the integration: its admins are
subclassed here with the integration's mixins and registered in their place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integrations.admin import operations
from integrations.admin.base import IntegrationPermissionMixin, connection_of, require_integration_staff
from integrations.health_selectors import stale_before
from integrations.models import Health
from integrations.permissions import is_integration_staff
from portal.customers.admin import CustomerAdmin, SiteAdmin
from portal.customers.models import Customer, Site


def _tools_context(request: HttpRequest, customer: Customer) -> dict:
    """What the object-tool buttons need; nothing for staff without the permission."""
    if not is_integration_staff(request.user):
        return {}
    return {"azure": {"customer": customer, "connection": connection_of(customer)}}


class IntegrationHealthFilter(admin.SimpleListFilter):
    """Customers by the state of their Microsoft Entra ID connection."""

    title = _("integration health")
    parameter_name = "integration"

    def lookups(self, request: HttpRequest, model_admin):
        return [
            ("none", _("Not connected")),
            *[(value, label) for value, label in Health.choices],
            ("stale", _("Stale (no success for twice the interval)")),
        ]

    def queryset(self, request: HttpRequest, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(azure_connection__isnull=True)
        if value in Health.values:
            return queryset.filter(azure_connection__health=value)
        if value == "stale":
            cutoff = stale_before()
            return queryset.filter(azure_connection__isnull=False).filter(
                models.Q(azure_connection__last_sync_at__lt=cutoff)
                | models.Q(
                    azure_connection__last_sync_at__isnull=True, azure_connection__connected_at__lt=cutoff
                )
            )
        return queryset


if TYPE_CHECKING:
    # The mixins below only ever extend a ModelAdmin: type them as one.
    _ModelAdmin = admin.ModelAdmin[Customer]
    _SiteModelAdmin = admin.ModelAdmin[Site]
else:
    _ModelAdmin = _SiteModelAdmin = object


class CustomerIntegrationAdminMixin(IntegrationPermissionMixin, _ModelAdmin):
    """Import from Azure AD, Sync now and Disconnect for customers (actions and buttons)."""

    # -- changelist columns (the queryset selects `azure_connection`) ------------
    INTEGRATION_COLUMNS = ("integration", "health", "last_sync")

    def get_list_display(self, request: HttpRequest):
        """Tenant and health are integration data: only integration staff see them."""
        columns = super().get_list_display(request)
        if is_integration_staff(request.user):
            return columns
        return [column for column in columns if column not in self.INTEGRATION_COLUMNS]

    def get_list_filter(self, request: HttpRequest):
        filters = super().get_list_filter(request)
        if is_integration_staff(request.user):
            return filters
        return [item for item in filters if item is not IntegrationHealthFilter]

    @admin.display(description=_("Microsoft Entra ID"), ordering="azure_connection__tenant_name")
    def integration(self, customer: Customer) -> str:
        connection = connection_of(customer)
        if connection is None:
            return str(_("Not connected")) if customer.azure_sync_available else str(_("Not in plan"))
        return connection.tenant_name or connection.tenant_id

    @admin.display(description=_("Health"), ordering="azure_connection__health")
    def health(self, customer: Customer) -> str:
        connection = connection_of(customer)
        if connection is None:
            return "–"
        since = connection.last_sync_at or connection.connected_at
        if connection.health == Health.HEALTHY and since < stale_before():
            return str(_("Stale"))
        return connection.get_health_display()

    @admin.display(description=_("Last sync"), ordering="azure_connection__last_sync_at")
    def last_sync(self, customer: Customer):
        connection = connection_of(customer)
        return connection.last_sync_at if connection and connection.last_sync_at else "–"

    change_form_template = "admin/integrations/customer_change_form.html"

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/azure/import/", wrap(self.azure_import_view), name=f"{prefix}_azure_import"
            ),
            path("<path:object_id>/azure/sync/", wrap(self.azure_sync_view), name=f"{prefix}_azure_sync"),
            path(
                "<path:object_id>/azure/disconnect/",
                wrap(self.azure_disconnect_view),
                name=f"{prefix}_azure_disconnect",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(_tools_context(request, obj))
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )

    def _selected_customers(self, queryset) -> list[Customer]:
        # The changelist queryset carries count annotations; read the rows plainly.
        pks = list(queryset.values_list("pk", flat=True))
        return list(Customer.objects.filter(pk__in=pks).select_related("azure_connection"))

    def _customer_or_404(self, request: HttpRequest, object_id: str) -> Customer:
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404(gettext("No such customer."))
        return customer

    def _change_url(self, customer: Customer) -> str:
        return reverse(
            "admin:customers_customer_change", args=[customer.pk], current_app=self.admin_site.name
        )

    # -- actions --------------------------------------------------------------
    @admin.action(description=_("Import from Azure AD"), permissions=["manage_azure"])
    def azure_import(self, request: HttpRequest, queryset):
        require_integration_staff(request)
        pks = list(queryset.values_list("pk", flat=True)[:2])
        if len(pks) != 1:
            self.message_user(
                request,
                gettext("Import from Azure AD works on one customer at a time: select exactly one."),
                messages.WARNING,
            )
            return None
        customer = Customer.objects.get(pk=pks[0])
        if not customer.azure_sync_available:
            self.message_user(request, _not_in_plan(customer), messages.WARNING)
            return None
        return redirect("admin:customers_customer_azure_import", customer.pk)

    @admin.action(description=_("Sync now with Microsoft Entra ID"), permissions=["manage_azure"])
    def azure_sync_now(self, request: HttpRequest, queryset) -> None:
        operations.sync_customers(self, request, self._selected_customers(queryset))

    @admin.action(description=_("Disconnect from Microsoft Entra ID…"), permissions=["manage_azure"])
    def azure_disconnect(self, request: HttpRequest, queryset):
        customers = self._selected_customers(queryset)
        return operations.disconnect_action(
            self,
            request,
            customers,
            action="azure_disconnect",
            selected=[customer.pk for customer in customers],
            cancel_url=reverse("admin:customers_customer_changelist", current_app=self.admin_site.name),
        )

    # -- views behind the buttons ---------------------------------------------
    def azure_import_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The consent flow must start with a POST carrying the CSRF token: this page holds that form."""
        require_integration_staff(request)
        customer = self._customer_or_404(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import %(customer)s's contacts from Microsoft Entra ID")
            % {"customer": customer.name},
            "subtitle": None,
            "opts": self.opts,
            "original": customer,
            "customer": customer,
            "connection": connection_of(customer),
            "not_in_plan": None if customer.azure_sync_available else _not_in_plan(customer),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/customer_azure_import.html", context)

    def azure_sync_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        require_integration_staff(request)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        customer = self._customer_or_404(request, object_id)
        operations.sync_customers(self, request, [customer])
        return redirect(self._change_url(customer))

    def azure_disconnect_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET (or a POST without `post=yes`) asks for confirmation; the confirmed POST disconnects."""
        require_integration_staff(request)
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        customer = self._customer_or_404(request, object_id)
        if request.method == "POST" and request.POST.get("post") == "yes":
            operations.disconnect_customers(self, request, [customer])
            return redirect(self._change_url(customer))
        return operations.disconnect_confirmation(
            self, request, [customer], obj=customer, cancel_url=self._change_url(customer)
        )


class SiteIntegrationAdminMixin(_SiteModelAdmin):
    """The Import from Azure AD button on a site's page (the import is per customer)."""

    change_form_template = "admin/integrations/site_change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(_tools_context(request, obj.customer))
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )


def _not_in_plan(customer: Customer) -> str:
    return gettext(
        "The Azure AD sync is not included in %(customer)s's %(plan)s plan, "
        "so its contacts cannot be imported from Azure AD."
    ) % {"customer": customer.name, "plan": customer.get_plan_display()}


# -- the customers app's admins, with the integration ---------------------------------
admin.site.unregister(Customer)


@admin.register(Customer)
class IntegrationCustomerAdmin(CustomerIntegrationAdminMixin, CustomerAdmin):
    """The customer admin with the integration's columns, filter and actions."""

    list_display = [*CustomerAdmin.list_display, *CustomerIntegrationAdminMixin.INTEGRATION_COLUMNS]
    list_filter = [*CustomerAdmin.list_filter, IntegrationHealthFilter]
    # Shown only to staff with the integration permission (`permissions=["manage_azure"]`).
    actions = ["azure_import", "azure_sync_now", "azure_disconnect"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("azure_connection")


admin.site.unregister(Site)


@admin.register(Site)
class IntegrationSiteAdmin(SiteIntegrationAdminMixin, SiteAdmin):
    """The site admin with the Import from Azure AD button."""
