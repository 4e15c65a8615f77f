"""The activity log for staff: every customer's, read-only, filterable, CSV."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.activity.models import Activity
from portal.activity.views import csv_rows


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    # Fits 1366 px next to the filters: what it was on and old → new share a column.
    list_display = ["at", "who", "customer_name", "kind", "summary"]
    list_filter = ["kind", ("customer", admin.RelatedOnlyFieldListFilter)]
    date_hierarchy = "at"
    search_fields = ["actor_name", "customer_name", "target", "old_value", "new_value"]
    show_full_result_count = False
    change_list_template = "admin/activity/activity/change_list.html"
    readonly_fields = [f.name for f in Activity._meta.fields]

    @admin.display(description=_("Who"), ordering="actor_name")
    def who(self, entry: Activity) -> str:
        return entry.actor_name or str(_("system"))

    @admin.display(description=_("On, before → after"))
    def summary(self, entry: Activity) -> str:
        if not (entry.old_value or entry.new_value):
            return entry.target
        return f"{entry.target}: {entry.old_value or '—'} → {entry.new_value or '—'}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("export.csv", wrap(self.export_csv), name="activity_activity_csv"), *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> HttpResponseBase:
        """The changelist's current filters, as CSV (the changelist checks view permission)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            rows = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            # Like the changelist itself: unknown or malformed filters go back with ?e=1.
            return HttpResponseRedirect(
                reverse("admin:activity_activity_changelist") + "?" + ERROR_FLAG + "=1"
            )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(csv_rows(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="activity-{stamp}.csv"'
        return response
