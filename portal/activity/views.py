"""A customer's activity log in the portal, for that customer's administrators
(and integration staff): filters, pages and a CSV export. Read-only."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from integrations import permissions
from portal.activity.models import Activity
from portal.activity.selectors import filtered_activities
from portal.csv_cells import safe_cell, streaming_writer
from portal.customers.models import Customer

PER_PAGE = 50


@login_required
@require_GET
def activity_log(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _manageable_customer(request, customer_id)
    rows, filters = filtered_activities(customer, request.GET)
    page = Paginator(rows.select_related("actor"), PER_PAGE).get_page(filters["page"])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "customer": customer,
        "page": page,
        "filters": filters,
        "kinds": Activity.Kind.choices,
        "query": query.urlencode(),
    }
    return render(request, "activity/log.html", context)


@login_required
@require_GET
def activity_csv(request: HttpRequest, customer_id: int) -> StreamingHttpResponse:
    customer = _manageable_customer(request, customer_id)
    rows, _ = filtered_activities(customer, request.GET)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(csv_rows(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="activity-customer-{customer.pk}-{stamp}.csv"'
    return response


def _manageable_customer(request: HttpRequest, customer_id: int) -> Customer:
    """The customer, if the user may manage it (R3); else 404 or 403."""
    customer = get_object_or_404(Customer, pk=customer_id)
    permissions.require_manage(request.user, customer)
    return customer


def csv_rows(rows: QuerySet[Activity]) -> Iterator[str]:
    """Streamed like the audit log's export, with the same formula-injection guard."""
    writer = streaming_writer()
    yield "\ufeff"
    yield writer.writerow(["at", "who", "customer", "kind", "on", "before", "after"])
    values = rows.values_list("at", "actor_name", "customer_name", "kind", "target", "old_value", "new_value")
    for at, *cells in values.iterator(chunk_size=2000):
        yield writer.writerow([at.isoformat(), *(safe_cell(value) for value in cells)])
