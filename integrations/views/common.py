"""Lookups shared by the integration's portal views: every one checks permissions."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from integrations import permissions
from integrations.models import AzureConnection, SyncRun
from portal.customers.models import Customer


def customer_for(request: HttpRequest, customer_id: int, *, manage: bool = False) -> Customer:
    """The customer, if the user may view it (or manage it); else 404/403."""
    customer = get_object_or_404(Customer, pk=customer_id)
    (permissions.require_manage if manage else permissions.require_view)(request.user, customer)
    return customer


def connection_for(customer: Customer) -> AzureConnection:
    connection = AzureConnection.objects.filter(customer=customer).first()
    if connection is None:
        raise Http404(_("This customer is not connected to Microsoft Entra ID."))
    return connection


def run_for(customer: Customer, run_id: int) -> SyncRun:
    """A run of this customer only (runs of other customers answer 404)."""
    return get_object_or_404(SyncRun, pk=run_id, customer=customer)
