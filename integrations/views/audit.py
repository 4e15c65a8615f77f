"""Audit log review (R16): filters, search, pagination and a streamed CSV export.

Read-only for everyone: there is no view that changes a FieldChange.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from integrations.audit_format import field_label, initial_values, initial_values_text
from integrations.models import FieldChange
from integrations.sync.plan import AUDITED_FIELDS
from integrations.views.common import customer_for
from portal import query
from portal.csv_cells import safe_cell, streaming_writer
from portal.customers.models import Customer

PER_PAGE = 50
FIELD_CHOICES = [
    (name, field_label(name)) for name in (FieldChange.CREATED, *AUDITED_FIELDS, FieldChange.DELETED)
]


class AuditFilters(forms.Form):
    """The audit page's and the CSV's query string (portal/query.py: bad values count as absent)."""

    q = query.TextParam(limit=200)
    contact = query.TextParam(limit=254)
    field = query.ChoiceParam(choices=FIELD_CHOICES)
    run = query.IdParam()
    since = query.DateParam()
    until = query.DateParam()
    page = query.PageParam()


def filtered_changes(customer: Customer, params) -> tuple[QuerySet[FieldChange], dict]:
    """The customer's changes narrowed by the request's filters (all optional)."""
    changes = FieldChange.objects.filter(customer=customer).select_related("run")
    filters = query.parse_query(AuditFilters, params)
    if filters["q"]:
        q = filters["q"]
        changes = changes.filter(
            Q(contact_email__icontains=q) | Q(old_value__icontains=q) | Q(new_value__icontains=q)
        )
    if filters["contact"]:
        changes = changes.filter(contact_email__iexact=filters["contact"])
    if filters["field"]:
        changes = changes.filter(field=filters["field"])
    if filters["run"] is not None:
        changes = changes.filter(run_id=filters["run"])
    tz = timezone.get_current_timezone()
    if filters["since"]:
        changes = changes.filter(changed_at__gte=datetime.combine(filters["since"], time.min, tz))
    if filters["until"]:
        changes = changes.filter(changed_at__lte=datetime.combine(filters["until"], time.max, tz))
    # The template compares the run with option values, which are text.
    filters["run"] = "" if filters["run"] is None else str(filters["run"])
    return changes.order_by("-changed_at", "-id"), filters


@login_required
@require_GET
def audit_log(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id)
    changes, filters = filtered_changes(customer, request.GET)
    page = Paginator(changes, PER_PAGE).get_page(filters["page"])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "customer": customer,
        "page": page,
        "rows": [_row(change) for change in page],
        "filters": filters,
        "field_choices": FIELD_CHOICES,
        "runs": customer.sync_runs.filter(dry_run=False).values_list("pk", "created_at")[:50],
        "query": query.urlencode(),
    }
    return render(request, "integrations/audit.html", context)


@login_required
@require_GET
def audit_csv(request: HttpRequest, customer_id: int) -> StreamingHttpResponse:
    customer = customer_for(request, customer_id)
    changes, _ = filtered_changes(customer, request.GET)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_csv_rows(changes), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-customer-{customer.pk}-{stamp}.csv"'
    return response


def _csv_rows(changes: QuerySet[FieldChange]) -> Iterator[str]:
    """Stream the CSV row by row: memory stays flat however long the log is."""
    writer = streaming_writer()
    yield "\ufeff"  # so spreadsheets read UTF-8
    yield writer.writerow(
        ["changed_at", "run", "contact_email", "field", "old_value", "new_value", "field_label"]
    )
    rows = changes.values_list("changed_at", "run_id", "contact_email", "field", "old_value", "new_value")
    for changed_at, run_id, email, field, old, new in rows.iterator(chunk_size=2000):
        if field == FieldChange.CREATED:
            new = initial_values_text(new)
        # The visitor's time zone, like the page (ISO 8601, with its offset).
        stamp = timezone.localtime(changed_at).isoformat(timespec="seconds")
        yield writer.writerow(
            [stamp, run_id, *(safe_cell(v) for v in (email, field, old, new, field_label(field)))]
        )


def _row(change: FieldChange) -> dict:
    """One audit row as the page shows it: a label, and a created contact's initial values."""
    created = change.field == FieldChange.CREATED
    return {
        "change": change,
        "label": field_label(change.field),
        "created": created,
        "initial": initial_values(change.new_value, with_email=False) if created else [],
    }
