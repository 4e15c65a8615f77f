"""The audit log (R16): read-only for everyone, filterable, linked to runs and contacts."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integrations.admin.base import IntegrationAdmin
from integrations.audit_format import field_label, initial_values_text
from integrations.models import FieldChange
from integrations.sync.plan import AUDITED_FIELDS

FIELD_CHOICES = [
    (name, field_label(name)) for name in (FieldChange.CREATED, *AUDITED_FIELDS, FieldChange.DELETED)
]


class FieldFilter(admin.SimpleListFilter):
    """Fixed choices: a DISTINCT over the whole audit table would be slow."""

    title = _("field")
    parameter_name = "field"

    def lookups(self, request: HttpRequest, model_admin):
        return FIELD_CHOICES

    def queryset(self, request: HttpRequest, queryset):
        if self.value():
            return queryset.filter(field=self.value())
        return queryset


@admin.register(FieldChange)
class FieldChangeAdmin(IntegrationAdmin):
    list_display = ["changed_at", "contact_email", "customer", "field_label", "old_to_new", "run_link"]
    list_filter = [("customer", admin.RelatedOnlyFieldListFilter), FieldFilter, "run__trigger"]
    date_hierarchy = "changed_at"
    search_fields = ["contact_email", "customer__name"]
    list_select_related = ["customer"]
    # The biggest table: no COUNT(*) of everything on each page.
    show_full_result_count = False
    fields = [
        "changed_at",
        "customer",
        "contact_link",
        "contact_email",
        "field_label",
        "old_value",
        "new_value",
        "run_link",
    ]
    readonly_fields = ["contact_link", "field_label", "run_link"]

    @admin.display(description=_("Field"), ordering="field")
    def field_label(self, change: FieldChange) -> str:
        return field_label(change.field)

    @admin.display(description=_("Old → new"))
    def old_to_new(self, change: FieldChange):
        if change.field == FieldChange.CREATED:
            return initial_values_text(change.new_value)  # what the contact was created with
        return format_html(
            "{} → {}", change.old_value or gettext("(empty)"), change.new_value or gettext("(empty)")
        )

    @admin.display(description=_("Run"), ordering="run")
    def run_link(self, change: FieldChange):
        url = reverse("admin:integrations_syncrun_change", args=[change.run_id])
        return format_html('<a href="{}">#{}</a>', url, change.run_id)

    @admin.display(description=_("Contact"))
    def contact_link(self, change: FieldChange):
        if change.contact_id is None:
            return gettext("Deleted")
        url = reverse("admin:customers_contact_change", args=[change.contact_id])
        return format_html('<a href="{}">{}</a>', url, change.contact_email)
