"""Reads of the activity log: one customer's (portal) or everyone's (admin), filtered."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.activity.models import Activity
from portal.customers.models import Customer


def filtered_activities(customer: Customer | None, params) -> tuple[QuerySet[Activity], dict]:
    """The log (of `customer`, or all) narrowed by the request's filters; bad input is ignored."""
    rows = Activity.objects.all() if customer is None else Activity.objects.filter(customer=customer)
    filters = {
        "q": params.get("q", "").strip()[:200],
        "kind": params.get("kind", ""),
        "since": _date(params.get("since")),
        "until": _date(params.get("until")),
    }
    if filters["q"]:
        q = filters["q"]
        rows = rows.filter(
            Q(actor_name__icontains=q)
            | Q(target__icontains=q)
            | Q(old_value__icontains=q)
            | Q(new_value__icontains=q)
        )
    if filters["kind"] in Activity.Kind.values:
        rows = rows.filter(kind=filters["kind"])
    else:
        filters["kind"] = ""
    tz = timezone.get_current_timezone()
    if filters["since"]:
        rows = rows.filter(at__gte=datetime.combine(filters["since"], time.min, tz))
    if filters["until"]:
        rows = rows.filter(at__lte=datetime.combine(filters["until"], time.max, tz))
    return rows.order_by("-at", "-id"), filters


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
