"""Reads of the activity log: one customer's (portal) or everyone's (admin), filtered."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from portal import query
from portal.activity.models import Activity
from portal.customers.models import Customer


class ActivityFilters(forms.Form):
    """The activity log's query string (portal/query.py: bad values count as absent)."""

    q = query.TextParam(limit=200)
    kind = query.ChoiceParam(choices=Activity.Kind.choices)
    since = query.DateParam()
    until = query.DateParam()
    page = query.PageParam()


def filtered_activities(customer: Customer | None, params) -> tuple[QuerySet[Activity], dict]:
    """The log (of `customer`, or all) narrowed by the request's filters; bad input is ignored."""
    rows = Activity.objects.all() if customer is None else Activity.objects.filter(customer=customer)
    filters = query.parse_query(ActivityFilters, params)
    if filters["q"]:
        q = filters["q"]
        rows = rows.filter(
            Q(actor_name__icontains=q)
            | Q(target__icontains=q)
            | Q(old_value__icontains=q)
            | Q(new_value__icontains=q)
        )
    if filters["kind"]:
        rows = rows.filter(kind=filters["kind"])
    tz = timezone.get_current_timezone()
    if filters["since"]:
        rows = rows.filter(at__gte=datetime.combine(filters["since"], time.min, tz))
    if filters["until"]:
        rows = rows.filter(at__lte=datetime.combine(filters["until"], time.max, tz))
    return rows.order_by("-at", "-id"), filters
