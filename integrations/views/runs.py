"""A run's page and the small JSON endpoint its progress bar polls."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET

from integrations.models import SyncRun
from integrations.sync.plan import SkipReason
from integrations.views.common import customer_for, run_for
from integrations.views.safety import run_safety_context
from portal.formatting import duration_text, when_text

# What the worker is doing (`SyncRun.phase`), in words.
PHASE_LABELS = {
    "fetching": pgettext_lazy("sync phase", "reading the directory"),
    "classifying": pgettext_lazy("sync phase", "checking mailboxes"),
    "planning": pgettext_lazy("sync phase", "comparing with the contacts"),
    "applying": pgettext_lazy("sync phase", "saving the changes"),
}


@login_required
@require_GET
def run_detail(request: HttpRequest, customer_id: int, run_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id)
    run = run_for(customer, run_id)
    context = {
        "customer": customer,
        "run": run,
        "here": _("Run #%(number)s") % {"number": run.pk},
        "progress": run_progress_data(run),
        "skips": [
            (SkipReason.LABELS.get(reason, reason), count) for reason, count in run.skipped_by_reason.items()
        ],
        **run_safety_context(request, customer, run),
    }
    return render(request, "integrations/run.html", context)


@login_required
@require_GET
def run_progress(request: HttpRequest, customer_id: int, run_id: int) -> JsonResponse:
    customer = customer_for(request, customer_id)
    return JsonResponse(run_progress_data(run_for(customer, run_id)))


def run_progress_data(run: SyncRun) -> dict:
    """Everything the run page updates while the run works; nothing secret."""
    percent = None
    if run.progress_total:
        percent = min(100, round(100 * run.progress_done / run.progress_total))
    if run.status == SyncRun.Status.SUCCEEDED:
        percent = 100
    requests_made = getattr(run, "requests_made", None)  # counted by the Graph client when available
    return {
        "id": run.pk,
        "status": run.status,
        "started": when_text(run.started_at, _("Waiting for a worker")),
        "finished": when_text(run.finished_at),
        "duration": duration_text(run.duration),
        "requests": "—" if requests_made is None else str(requests_made),
        "status_label": run.get_status_display(),
        "active": run.is_active,
        "phase": str(PHASE_LABELS.get(run.phase, run.phase)),
        "done": run.progress_done,
        "total": run.progress_total,
        "percent": percent,
        "counts": {
            "fetched": run.fetched,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "skipped": run.skipped,
            "fields_changed": run.fields_changed,
            "compared": run.created + run.updated + run.unchanged + run.skipped,
        },
        # Stored in English; shown in the reader's language when the catalogue has it.
        "error": run.error_text,
    }


RUNS_PER_PAGE = 25


@login_required
@require_GET
def run_history(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Every run of the customer, newest first, a page at a time (all connections, with their tenant)."""
    customer = customer_for(request, customer_id)
    runs = customer.sync_runs.select_related("requested_by").order_by("-created_at", "-id")
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/runs.html",
        {"customer": customer, "page": page, "here": _("Run history")},
    )
