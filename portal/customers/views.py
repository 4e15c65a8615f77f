"""Customer portal pages. Every lookup goes through the selectors, which
answer 404 for customers the user is not a member of."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from portal import query
from portal.customers import selectors
from portal.users import signed_in_user

CONTACTS_PER_PAGE = 50


class ContactSearch(forms.Form):
    """The site page's query string (portal/query.py: bad values count as absent)."""

    q = query.TextParam(limit=200)
    page = query.PageParam()
    # Inactive contacts (leavers, design.md §6.2) are listed greyed out; this narrows the list.
    status = query.ChoiceParam(choices=[("active", _("Active")), ("inactive", _("Inactive"))])


@login_required
def home(request: HttpRequest) -> HttpResponse:
    customers = selectors.customers_for_user(user=signed_in_user(request))
    return render(request, "portal/home.html", {"customers": customers})


@login_required
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = selectors.customer_for_user(user=signed_in_user(request), customer_id=customer_id)
    context = {
        "customer": customer,
        "sites": selectors.sites_with_contact_counts(customer=customer),
        "contact_count": customer.contacts.count(),
        "unplaced_count": customer.contacts.filter(site__isnull=True).count(),
        "is_customer_admin": selectors.is_customer_admin(user=signed_in_user(request), customer=customer),
    }
    return render(request, "portal/customer_detail.html", context)


@login_required
def site_detail(request: HttpRequest, customer_id: int, site_id: int) -> HttpResponse:
    site = selectors.site_for_user(user=signed_in_user(request), customer_id=customer_id, site_id=site_id)
    params = query.parse_query(ContactSearch, request.GET)
    search = params["q"]
    contacts = site.contacts.order_by("last_name", "first_name", "email")
    if search:
        contacts = contacts.filter(
            Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(job_title__icontains=search)
        )
    if params["status"]:
        contacts = contacts.filter(is_active=params["status"] == "active")
    page = Paginator(contacts, CONTACTS_PER_PAGE).get_page(params["page"])
    context = {
        "customer": site.customer,
        "site": site,
        "page": page,
        "query": search,
        "status": params["status"],
        "is_customer_admin": selectors.is_customer_admin(
            user=signed_in_user(request), customer=site.customer
        ),
    }
    return render(request, "portal/site_detail.html", context)


@login_required
def contact_detail(request: HttpRequest, customer_id: int, contact_id: int) -> HttpResponse:
    """One contact, with what the directory sync did to it (its audit rows, when the integration is installed)."""
    contact = selectors.contact_for_user(
        user=signed_in_user(request), customer_id=customer_id, contact_id=contact_id
    )
    context = {
        "customer": contact.customer,
        "contact": contact,
        "is_customer_admin": selectors.is_customer_admin(
            user=signed_in_user(request), customer=contact.customer
        ),
    }
    return render(request, "portal/contact_detail.html", context)
