"""The connection's management page and disconnect (R14, R15), for customer admins and staff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from integrations import permissions
from integrations.models import AzureConnection
from integrations.services.connections import REMOVE_APP_INSTRUCTIONS, connection_disconnect
from portal.customers.models import Customer


def _customer_for(request: HttpRequest, customer_id: int, *, manage: bool) -> Customer:
    customer = get_object_or_404(Customer, pk=customer_id)
    (permissions.require_manage if manage else permissions.require_view)(request.user, customer)
    return customer


@login_required
def manage(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _customer_for(request, customer_id, manage=False)
    connection = AzureConnection.objects.filter(customer=customer).first()
    context = {
        "customer": customer,
        "connection": connection,
        "can_manage": permissions.can_manage(request.user, customer),
        "mappings": connection.mappings.select_related("site") if connection else [],
        "runs": customer.sync_runs.all()[:10],
    }
    return render(request, "integrations/manage.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET asks for confirmation (what stays, what goes); POST disconnects."""
    customer = _customer_for(request, customer_id, manage=True)
    connection = get_object_or_404(AzureConnection, customer=customer)
    if request.method == "POST":
        instructions = connection_disconnect(connection=connection)
        messages.success(request, f"{customer.name} is disconnected from Entra ID. {instructions}")
        return redirect("integrations:manage", customer_id=customer.pk)
    return render(
        request,
        "integrations/disconnect_confirm.html",
        {"customer": customer, "connection": connection, "instructions": REMOVE_APP_INSTRUCTIONS},
    )
