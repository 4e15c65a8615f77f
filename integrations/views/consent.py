"""The "Import from Azure AD" flow: a POST starts it, one callback URL ends both legs."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from integrations import consent, permissions
from integrations.graph.errors import MicrosoftError
from integrations.services import runs
from integrations.services.connections import (
    ConnectError,
    connection_connect,
    read_tenant_name,
    verify_tenant_access,
)
from portal.customers.models import Customer

logger = logging.getLogger(__name__)


def callback_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("integrations:callback"))


@login_required
@require_POST
def connect_start(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Send a permitted user to Microsoft to sign in (step 1 of SPEC.md section 4)."""
    customer = get_object_or_404(Customer, pk=customer_id)
    permissions.require_manage(request.user, customer)
    if not customer.azure_sync_available:
        return refused(
            request, customer, _("The Entra ID sync is not included in this customer's plan."), status=403
        )
    try:
        url = consent.begin_signin(
            request.session,
            customer_id=customer.pk,
            user_id=request.user.pk,
            redirect_uri=callback_uri(request),
        )
    except MicrosoftError as exc:
        return refused(
            request,
            customer,
            _("Microsoft could not be reached: %(error)s") % {"error": exc.message},
            status=502,
        )
    return HttpResponseRedirect(url)


@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Microsoft's redirect back, for the sign-in leg and the consent leg."""
    if any(len(values) > 1 for _key, values in request.GET.lists()):
        # Microsoft sends each parameter once; which copy to believe is not ours to guess.
        return refused(
            request,
            None,
            _(
                "This response from Microsoft repeats a parameter and was refused. Start again from the portal."
            ),
        )
    params = {key: request.GET.get(key, "") for key in request.GET}
    leg = consent.leg_of(request.session, params)
    try:
        if leg == "signin":
            return HttpResponseRedirect(
                consent.finish_signin(
                    request.session, params, user_id=request.user.pk, redirect_uri=callback_uri(request)
                )
            )
        if leg == "consent":
            return _finish_consent(request, params)
        raise consent.ConsentRefused(
            _("This link has expired or was already used. Start again from the portal.")
        )
    except consent.ConsentRefused as exc:
        return refused(request, None, str(exc))


def _finish_consent(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    verified = consent.check_consent(request.session, params, user_id=request.user.pk)
    customer = get_object_or_404(Customer, pk=verified.customer_id)
    permissions.require_manage(request.user, customer)
    if not customer.azure_sync_available:
        raise consent.ConsentRefused(_("The Entra ID sync is not included in this customer's plan."))
    try:
        verify_tenant_access(verified.tenant_id)
        tenant_name = verified.organization or read_tenant_name(
            verified.tenant_id, fallback=verified.signin_domain
        )
        connection = connection_connect(
            customer=customer,
            tenant_id=verified.tenant_id,
            tenant_name=tenant_name,
            connected_by=request.user,
        )
    except ConnectError as exc:
        raise consent.ConsentRefused(str(exc)) from exc
    except MicrosoftError as exc:
        raise consent.ConsentRefused(
            _("The tenant could not be verified: %(error)s") % {"error": exc.message}
        ) from exc
    logger.info(
        "Customer %s connected to tenant %s by user %s", customer.pk, verified.tenant_id, request.user.pk
    )
    if connection.mappings.exists():  # a reconnect: the mapping is still there
        messages.success(
            request,
            _("%(customer)s is connected to %(tenant)s again.")
            % {"customer": customer.name, "tenant": tenant_name or verified.tenant_id},
        )
        return redirect("integrations:manage", customer_id=customer.pk)
    runs.directory_read(connection=connection, requested_by=request.user)
    messages.success(
        request,
        _(
            "Connected to %(tenant)s. The directory is being read; "
            "map its offices or departments to your sites to start the import."
        )
        % {"tenant": tenant_name or verified.tenant_id},
    )
    return redirect("integrations:mapping", customer_id=customer.pk)


def refused(
    request: HttpRequest, customer: Customer | None, message: str, *, status: int = 400
) -> HttpResponse:
    return render(
        request,
        "integrations/consent_refused.html",
        {"customer": customer, "message": message},
        status=status,
    )
