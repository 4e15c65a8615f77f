"""Sync runs: read-only for everyone, with what went wrong and a link to what changed."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from integrations.admin.base import IntegrationAdmin, changes_url
from integrations.models import SyncRun
from integrations.sync.plan import SkipReason
from portal.formatting import duration_text


def format_duration(duration: timedelta | None) -> str:
    return duration_text(duration, "–")


@admin.register(SyncRun)
class SyncRunAdmin(IntegrationAdmin):
    list_display = [
        "created_at",
        "customer",
        "trigger",
        "status",
        "dry_run",
        "duration",
        "fetched",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "audit_link",
    ]
    list_filter = ["status", "trigger", "dry_run", ("customer", admin.RelatedOnlyFieldListFilter)]
    date_hierarchy = "created_at"
    search_fields = ["customer__name", "tenant_id", "error"]
    list_select_related = ["customer"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "customer",
                    "connection_link",
                    "tenant_id",
                    "trigger",
                    "status",
                    "dry_run",
                    "full_pass",
                    "requested_by",
                ]
            },
        ),
        ("Timing", {"fields": ["created_at", "started_at", "finished_at", "duration", "phase", "progress"]}),
        (
            "Counts",
            {
                "fields": [
                    "fetched",
                    "created",
                    "updated",
                    "unchanged",
                    "skipped",
                    "skip_reasons",
                    "fields_changed",
                    "field_changes",
                ]
            },
        ),
        ("Problems", {"fields": ["error_kind", "error", "warning_list"]}),
        ("Dry-run preview", {"fields": ["preview_json"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "connection_link",
        "duration",
        "progress",
        "skip_reasons",
        "field_changes",
        "warning_list",
        "preview_json",
    ]

    @admin.display(description="Duration")
    def duration(self, run: SyncRun) -> str:
        return format_duration(run.duration)

    @admin.display(description="Audit")
    def audit_link(self, run: SyncRun):
        if run.dry_run:
            return "–"
        return format_html('<a href="{}">changes</a>', changes_url(run__id__exact=run.pk))

    @admin.display(description="Connection")
    def connection_link(self, run: SyncRun):
        if run.connection is None:
            return "Disconnected"
        url = reverse("admin:integrations_azureconnection_change", args=[run.connection_id])
        return format_html('<a href="{}">{}</a>', url, run.connection)

    @admin.display(description="Progress")
    def progress(self, run: SyncRun) -> str:
        if run.progress_total:
            return f"{run.progress_done} of {run.progress_total}"
        return str(run.progress_done) if run.progress_done else "–"

    @admin.display(description="Skipped, by reason")
    def skip_reasons(self, run: SyncRun):
        if not run.skipped_by_reason:
            return "–"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (SkipReason.LABELS.get(reason, reason), count)
                    for reason, count in sorted(run.skipped_by_reason.items())
                ),
            ),
        )

    @admin.display(description="Field changes")
    def field_changes(self, run: SyncRun):
        count = run.changes.count()
        if not count:
            return "None recorded"
        label = f"{count} change{'s' if count != 1 else ''} in the audit log"
        return format_html('<a href="{}">{}</a>', changes_url(run__id__exact=run.pk), label)

    @admin.display(description="Warnings")
    def warning_list(self, run: SyncRun):
        if not run.warnings:
            return "–"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in run.warnings)))

    @admin.display(description="Preview")
    def preview_json(self, run: SyncRun):
        if not run.preview:
            return "–"
        return format_html("<pre>{}</pre>", json.dumps(run.preview, indent=2, ensure_ascii=False))
