"""The "Import from Azure AD" flow: a POST starts it, one callback URL ends both
Microsoft legs, and a confirmation page between them names tenant and customer."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations import consent, permissions
from integrations.graph.errors import MicrosoftError
from integrations.models import AzureConnection
from integrations.services.connections import ConnectError, connection_connect_from_consent
from integrations.tenant_profile import domains_match
from portal.customers.models import Customer
from portal.users import signed_in_user

logger = logging.getLogger(__name__)


def callback_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("integrations:callback"))


@login_required
@require_POST
def connect_start(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Send a permitted user to Microsoft to sign in (step 1 of docs/design.md §4)."""
    customer = get_object_or_404(Customer, pk=customer_id)
    permissions.require_manage(request.user, customer)
    if not customer.azure_sync_available:
        return refused(
            request,
            customer,
            _("The Microsoft Entra ID sync is not included in this customer's plan."),
            status=403,
        )
    tenant = request.POST.get("tenant", "").strip()
    try:
        url = consent.begin_signin(
            request.session,
            customer_id=customer.pk,
            user_id=signed_in_user(request).pk,
            redirect_uri=callback_uri(request),
            tenant=tenant,
        )
    except MicrosoftError as exc:
        if exc.code == "invalid_tenant_id":
            message = _("“%(tenant)s” is neither a domain name nor a tenant id.") % {"tenant": tenant[:100]}
            return refused(request, customer, message, retry=customer)
        if exc.code == "AADSTS90002" and tenant:
            message = _("Microsoft does not know the tenant “%(tenant)s”.") % {"tenant": tenant[:100]}
            return refused(request, customer, message, retry=customer)
        message = _("Microsoft could not be reached: %(error)s") % {"error": exc.message}
        return refused(request, customer, message, status=502)
    return HttpResponseRedirect(url)


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Microsoft's redirect back, for the sign-in leg and the consent leg."""
    if not request.user.is_authenticated:
        # Logged out between the legs: the flow went with the session, so nothing here can
        # complete. No login redirect: its `?next=` would carry the sign-in code on into
        # request logs and browser history.
        return refused(
            request,
            None,
            _(
                "You are not signed in to the portal (any more), so this response from Microsoft "
                "cannot be used. Sign in and start again from the customer's page."
            ),
            status=401,
        )
    consent.purge_expired(request.session)
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
            consent.finish_signin(request.session, params, user_id=request.user.pk)
            return redirect("integrations:confirm")
        if leg == "consent":
            return _finish_consent(request, params)
        if leg == "done" and "error" not in params:
            return _already_connected(request)
        if "error" in params:  # someone else's or a stale error: shown, and nothing consumed
            raise consent.microsoft_refusal(params, _("Microsoft returned an error."), from_flow=False)
        raise consent.ConsentRefused(
            _(
                "This response does not belong to a connection in progress in your session "
                "(it expired, was already used, or was started elsewhere). Nothing was connected."
            )
        )
    except consent.ConsentRefused as exc:
        return refused_by(request, exc)


@login_required
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    """GET shows the tenant beside the customer; the confirmed POST goes on to admin consent."""
    if request.method == "POST":
        try:
            customer = _customer_of_form(request)
            url = consent.confirm(
                request.session,
                request.POST.dict(),
                user_id=signed_in_user(request).pk,
                redirect_uri=callback_uri(request),
                vet=lambda confirmation: _refuse_binding_conflict(customer, confirmation["tid"]),
            )
        except consent.ConsentRefused as exc:
            return refused_by(request, exc, status=exc.status)
        logger.info("User %s confirmed a tenant for customer %s", request.user.pk, customer.pk)
        return HttpResponseRedirect(url)
    pending = consent.pending_confirmation(request.session, user_id=signed_in_user(request).pk)
    if pending is None:
        return refused(request, None, _("There is no connection waiting for your confirmation."), status=404)
    customer = get_object_or_404(Customer, pk=pending["customer_id"])
    permissions.require_manage(request.user, customer)
    try:
        _refuse_binding_conflict(customer, pending["tid"])
    except consent.ConsentRefused as exc:
        return refused(request, customer, exc.message, status=exc.status)
    context = {
        "customer": customer,
        "pending": pending,
        "domains_match": domains_match(customer, pending["domains"]),
    }
    return render(request, "integrations/consent_confirm.html", context)


@login_required
@require_POST
def confirm_cancel(request: HttpRequest) -> HttpResponse:
    """Cancel between the legs: nothing is bound; offer to start again."""
    try:
        customer_id = consent.cancel(request.session, request.POST.dict(), user_id=signed_in_user(request).pk)
    except consent.ConsentRefused as exc:
        return refused_by(request, exc)
    customer = get_object_or_404(Customer, pk=customer_id)
    # The page offers to start again for that customer: only to someone who still may.
    permissions.require_manage(request.user, customer)
    return render(request, "integrations/consent_cancelled.html", {"customer": customer})


def _refuse_binding_conflict(customer: Customer, tenant_id: str) -> None:
    """R11 before Microsoft is asked for consent: a consent that cannot lead to a
    connection would only leave a needless grant of read access in the tenant.
    The callback checks again (connection_connect) under a row lock."""
    if AzureConnection.objects.filter(tenant_id=tenant_id).exclude(customer=customer).exists():
        raise consent.ConsentRefused(
            _(
                "This Microsoft tenant is already connected to another customer. A tenant can be "
                "connected to one customer at a time; it must be disconnected there first. "
                "Nothing was connected."
            ),
            status=409,
        )
    existing = AzureConnection.objects.filter(customer=customer).exclude(tenant_id=tenant_id).first()
    if existing is not None:
        raise consent.ConsentRefused(
            _(
                "%(customer)s is already connected to another tenant (%(tenant)s). Disconnect it "
                "first. Nothing was connected."
            )
            % {"customer": customer.name, "tenant": existing.tenant_name or existing.tenant_id},
            status=409,
        )


def _customer_of_form(request: HttpRequest) -> Customer:
    """The customer the Confirm form names, still manageable by this user and in plan."""
    try:
        customer = get_object_or_404(Customer, pk=int(request.POST.get("customer", "")))
    except ValueError:
        raise consent.ConsentRefused(
            _("The confirmation form is incomplete. Nothing was connected.")
        ) from None
    permissions.require_manage(request.user, customer)
    if not customer.azure_sync_available:
        raise consent.ConsentRefused(
            _("The Microsoft Entra ID sync is not included in this customer's plan.")
        )
    return customer


def _finish_consent(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    verified = consent.check_consent(request.session, params, user_id=request.user.pk)
    customer = get_object_or_404(Customer, pk=verified.customer_id)
    try:
        permissions.require_manage(request.user, customer)
        connected = connection_connect_from_consent(
            customer=customer,
            tenant_id=verified.tenant_id,
            tenant_name=verified.tenant_name,
            connected_by=signed_in_user(request),
        )
    except ConnectError as exc:
        consent.forget_done(request.session)
        raise consent.ConsentRefused(str(exc)) from exc
    except MicrosoftError as exc:
        consent.forget_done(request.session)
        raise consent.ConsentRefused(
            _("The tenant could not be verified: %(error)s") % {"error": exc.message},
            code=exc.code,
            retry_customer_id=customer.pk,
        ) from exc
    except BaseException:
        consent.forget_done(request.session)
        raise
    if connected.reconnected:  # the mapping is still there
        messages.success(
            request,
            _("%(customer)s is connected to %(tenant)s again.")
            % {"customer": customer.name, "tenant": connected.tenant_label},
        )
        return redirect("integrations:manage", customer_id=customer.pk)
    messages.success(
        request,
        _(
            "Connected to %(tenant)s. The directory is being read; map its offices or departments "
            "to your sites to start the import."
        )
        % {"tenant": connected.tenant_label},
    )
    return redirect("integrations:mapping", customer_id=customer.pk)


def _already_connected(request: HttpRequest) -> HttpResponse:
    """A repeated Accept of the flow this session just completed."""
    done = consent.completed(request.session, user_id=request.user.pk) or {}
    customer_id = done.get("customer_id")
    connection = (
        AzureConnection.objects.filter(customer_id=customer_id, tenant_id=done.get("tid"))
        .select_related("customer")
        .first()
        if customer_id is not None
        else None
    )
    if connection is None or not permissions.can_manage(request.user, connection.customer):
        return refused(
            request, None, _("This connection is no longer in place. Start again from the portal.")
        )
    messages.info(
        request,
        _("%(customer)s is already connected to %(tenant)s.")
        % {"customer": connection.customer.name, "tenant": connection.tenant_name or connection.tenant_id},
    )
    return redirect("integrations:manage", customer_id=connection.customer_id)


def refused_by(request: HttpRequest, exc: consent.ConsentRefused, *, status: int = 400) -> HttpResponse:
    retry = None
    if exc.retry_customer_id is not None:
        retry = Customer.objects.filter(pk=exc.retry_customer_id).first()
        if retry is not None and not permissions.can_manage(request.user, retry):
            retry = None
    return refused(request, None, exc.message, status=status, title=exc.title, code=exc.code, retry=retry)


def refused(
    request: HttpRequest,
    customer: Customer | None,
    message: str,
    *,
    status: int = 400,
    title: str = "",
    code: str = "",
    retry: Customer | None = None,
) -> HttpResponse:
    return render(
        request,
        "integrations/consent_refused.html",
        {"customer": customer, "message": message, "title": title, "code": code, "retry": retry},
        status=status,
    )
