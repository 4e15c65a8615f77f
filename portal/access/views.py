"""The portal's invitation pages: a customer's administrators list, send,
resend and revoke invitations; the invitee accepts through the e-mailed link.

Who may call: the list and the actions need `can_grant_admin` on the customer
(404 for strangers, 403 for members); the accept page needs a valid token for
that customer (anyone holding the link, which is the point of a link).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.access import invitations as service
from portal.access.forms import AcceptForm, InviteForm
from portal.access.memberships import can_grant_admin
from portal.access.models import Invitation
from portal.access.tokens import InvalidInvitation, invitation_for_token
from portal.customers import selectors
from portal.customers.models import Customer
from portal.users import signed_in_user


def _customer_for_inviter(request: HttpRequest, customer_id: int) -> Customer:
    customer = selectors.customer_for_user(user=signed_in_user(request), customer_id=customer_id)
    if not can_grant_admin(request.user, customer):
        raise PermissionDenied(_("Only this customer's administrators may invite administrators."))
    return customer


@login_required
@require_http_methods(["GET", "POST"])
def invitations(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _customer_for_inviter(request, customer_id)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = service.invitation_create(
                actor=signed_in_user(request), customer=customer, email=form.cleaned_data["email"]
            )
        except service.InvitationError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            return redirect("access:invitations", customer_id=customer.pk)
    context = {
        "customer": customer,
        "form": form,
        "invitations": customer.invitations.select_related("invited_by", "accepted_by")[:100],
    }
    return render(request, "access/invitations.html", context)


@login_required
@require_POST
def invitation_action(
    request: HttpRequest, customer_id: int, invitation_id: int, action: str
) -> HttpResponse:
    customer = _customer_for_inviter(request, customer_id)
    invitation = get_object_or_404(Invitation, pk=invitation_id, customer=customer)
    try:
        if action == "resend":
            service.invitation_resend(actor=signed_in_user(request), invitation=invitation)
            messages.success(
                request,
                _("A new link was sent to %(email)s; the earlier one no longer works.")
                % {"email": invitation.email},
            )
        elif action == "revoke":
            service.invitation_revoke(actor=signed_in_user(request), invitation=invitation)
            messages.success(
                request, _("The invitation of %(email)s was revoked.") % {"email": invitation.email}
            )
        else:
            raise Http404
    except service.InvitationError as exc:
        messages.error(request, str(exc))
    return redirect("access:invitations", customer_id=customer.pk)


@never_cache
@require_http_methods(["GET", "POST"])
def accept(request: HttpRequest, customer_id: int, token: str) -> HttpResponse:
    """Set a password (new account) or, logged in with the invited address, accept."""
    try:
        invitation = invitation_for_token(token, customer_id=customer_id)
    except InvalidInvitation as exc:
        return render(request, "access/invitation_invalid.html", {"message": str(exc)}, status=400)
    logged_in = request.user if request.user.is_authenticated else None
    form = (
        None
        if logged_in
        else AcceptForm(request.POST or None, email=invitation.email, initial={"username": invitation.email})
    )
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            user, invitation = service.invitation_accept(
                token=token,
                customer_id=customer_id,
                user=logged_in,
                username="" if form is None else form.cleaned_data["username"],
                password="" if form is None else form.cleaned_data["password1"],
            )
        except InvalidInvitation as exc:
            return render(request, "access/invitation_invalid.html", {"message": str(exc)}, status=400)
        if not logged_in:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            _("Welcome: you are now an administrator of %(customer)s.")
            % {"customer": invitation.customer.name},
        )
        return redirect("portal:customer", customer_id=invitation.customer_id)
    return render(
        request,
        "access/invitation_accept.html",
        {"invitation": invitation, "form": form, "logged_in": logged_in},
    )
