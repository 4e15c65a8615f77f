"""Sync runs: read-only for everyone, with what went wrong and a link to what changed."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from integrations.admin import safety
from integrations.admin.base import IntegrationAdmin, changes_url
from integrations.models import SyncRun
from integrations.sync.plan import SkipReason
from portal.formatting import duration_text


def format_duration(duration: timedelta | None) -> str:
    return duration_text(duration, "–")


@admin.register(SyncRun)
class SyncRunAdmin(IntegrationAdmin):
    # Fits 1366 px beside the action checkboxes: the counts in one column that
    # links to the run's audited changes, the details on the run's page.
    list_display = ["created_at", "customer", "trigger", "status", "counts"]
    list_filter = ["status", "trigger", "dry_run", ("customer", admin.RelatedOnlyFieldListFilter)]
    actions = [safety.approve_held, safety.reject_held, safety.undo_runs]
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
                    "undoes",
                    "approves",
                    "decision",
                    "decided_by",
                    "decided_at",
                ]
            },
        ),
        (
            _("Timing"),
            {"fields": ["created_at", "started_at", "finished_at", "duration", "phase", "progress"]},
        ),
        (
            _("Counts"),
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
        (_("Problems"), {"fields": ["error_kind", "error_shown", "warning_list"]}),
        (_("Dry-run preview"), {"fields": ["preview_json"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "connection_link",
        "duration",
        "progress",
        "skip_reasons",
        "field_changes",
        "error_shown",
        "warning_list",
        "preview_json",
    ]

    @admin.display(description=_("Duration"))
    def duration(self, run: SyncRun) -> str:
        return format_duration(run.duration)

    @admin.display(description=_("New / updated / skipped"))
    def counts(self, run: SyncRun) -> str:
        counts = f"{run.created} / {run.updated} / {run.skipped}"
        if run.dry_run:
            return gettext("dry run: ") + counts
        return format_html('<a href="{}">{}</a>', changes_url(run__id__exact=run.pk), counts)

    @admin.display(description=_("Connection"))
    def connection_link(self, run: SyncRun):
        if run.connection is None:
            return gettext("Disconnected")
        url = reverse("admin:integrations_azureconnection_change", args=[run.connection_id])
        return format_html('<a href="{}">{}</a>', url, run.connection)

    @admin.display(description=_("Progress"))
    def progress(self, run: SyncRun) -> str:
        if run.progress_total:
            return gettext("%(done)s of %(total)s") % {"done": run.progress_done, "total": run.progress_total}
        return str(run.progress_done) if run.progress_done else "–"

    @admin.display(description=_("Skipped, by reason"))
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

    @admin.display(description=_("Field changes"))
    def field_changes(self, run: SyncRun):
        count = run.changes.count()
        if not count:
            return gettext("None recorded")
        label = ngettext("%(count)d change in the audit log", "%(count)d changes in the audit log", count) % {
            "count": count
        }
        return format_html('<a href="{}">{}</a>', changes_url(run__id__exact=run.pk), label)

    @admin.display(description=_("Error"))
    def error_shown(self, run: SyncRun) -> str:
        return run.error_text or "–"

    @admin.display(description=_("Warnings"))
    def warning_list(self, run: SyncRun):
        if not run.warnings:
            return "–"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in run.warning_texts))
        )

    @admin.display(description=_("Preview"))
    def preview_json(self, run: SyncRun):
        if not run.preview:
            return "–"
        return format_html("<pre>{}</pre>", json.dumps(run.preview, indent=2, ensure_ascii=False))
