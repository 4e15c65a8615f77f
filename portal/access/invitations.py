"""Inviting a customer's administrator: create, resend, revoke, accept.

Who may invite: whoever may grant the customer-administrator role
(`memberships.can_grant_admin`). The invitee receives a single-use
set-your-password link that expires; the membership exists only once the
invitation is accepted.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.access import tokens
from portal.access.memberships import can_grant_admin, membership_grant
from portal.access.models import Invitation
from portal.activity.services import Kind, record
from portal.customers.models import Customer, Membership
from portal.mail import absolute_url, send_email


class InvitationError(Exception):
    """An invitation request that cannot be carried out; the message says why."""


def invitation_link(invitation: Invitation) -> str:
    path = reverse(
        "access:accept",
        kwargs={"customer_id": invitation.customer_id, "token": tokens.make_token(invitation)},
    )
    return absolute_url(path)


def _require_grant(actor: User, customer: Customer) -> None:
    if not can_grant_admin(actor, customer):
        raise InvitationError(
            _("Inviting a customer administrator needs the Entra ID integration permission or superuser.")
        )


def _send(invitation: Invitation) -> None:
    send_email(
        "invitation",
        to=[invitation.email],
        context={
            "invitation": invitation,
            "customer": invitation.customer,
            "inviter": invitation.invited_by,
            "link": invitation_link(invitation),
            "expires_at": invitation.expires_at,
        },
    )


def invitation_create(*, actor: User, customer: Customer, email: str) -> Invitation:
    """Invite `email` to administer `customer` and send the e-mail (after commit)."""
    _require_grant(actor, customer)
    email = email.strip()
    user_model = get_user_model()
    if Membership.objects.filter(
        customer=customer, user__email__iexact=email, role=Membership.Role.ADMIN
    ).exists():
        raise InvitationError(_("%(email)s is already an administrator of this customer.") % {"email": email})
    if user_model.objects.filter(email__iexact=email, pk=actor.pk).exists():
        raise InvitationError(_("You cannot invite yourself."))
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(customer=customer, email=email, invited_by=actor)
    except IntegrityError as exc:
        raise InvitationError(
            _("%(email)s already has an open invitation for this customer: resend it instead.")
            % {"email": email}
        ) from exc
    record(
        Kind.INVITATION_SENT,
        actor=actor,
        customer=customer,
        target=email,
        details={"invitation_id": invitation.pk},
    )
    transaction.on_commit(lambda: _send(invitation))
    return invitation


def invitation_resend(*, actor: User, invitation: Invitation) -> Invitation:
    """A new link (the previous ones stop working) and a new expiry."""
    _require_grant(actor, invitation.customer)
    if not invitation.is_open:
        raise InvitationError(_("Only an invitation that is neither accepted nor revoked can be resent."))
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk).update(send_count=invitation.send_count + 1, sent_at=now)
    invitation.refresh_from_db()
    record(
        Kind.INVITATION_RESENT,
        actor=actor,
        customer=invitation.customer,
        target=invitation.email,
        details={"invitation_id": invitation.pk, "send_count": invitation.send_count},
    )
    transaction.on_commit(lambda: _send(invitation))
    return invitation


def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    _require_grant(actor, invitation.customer)
    if not invitation.is_open:
        raise InvitationError(_("Only an invitation that is neither accepted nor revoked can be revoked."))
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    record(
        Kind.INVITATION_REVOKED,
        actor=actor,
        customer=invitation.customer,
        target=invitation.email,
        details={"invitation_id": invitation.pk},
    )
    return invitation


@transaction.atomic
def invitation_accept(
    *,
    token: str,
    customer_id: int,
    user: User | None = None,
    username: str = "",
    password: str = "",
):
    """Accept: create the account (or use `user`, already logged in with the invited address)
    and the membership. The invitation row is locked, so a link works once."""
    invitation = tokens.invitation_for_token(token, customer_id=customer_id)
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("customer", "invited_by")
        .get(pk=invitation.pk)
    )
    if not invitation.is_open:
        raise tokens.InvalidInvitation(_("This invitation was already used."))
    user_model = get_user_model()
    if user is None:
        if user_model.objects.filter(email__iexact=invitation.email).exists():
            raise tokens.InvalidInvitation(
                _("An account with this e-mail address exists: log in with it, then open the link again.")
            )
        user = user_model.objects.create_user(username=username, email=invitation.email, password=password)
    elif (user.email or "").lower() != invitation.email.lower():
        raise tokens.InvalidInvitation(
            _("This invitation is for %(email)s; log in with that account.") % {"email": invitation.email}
        )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    # The inviter was checked when inviting; the grant is theirs, made now.
    membership_grant(
        actor=invitation.invited_by,
        user=user,
        customer=invitation.customer,
        role=invitation.role,
        via="invitation",
        checked=False,
    )
    record(
        Kind.INVITATION_ACCEPTED,
        actor=user,
        customer=invitation.customer,
        target=invitation.email,
        details={
            "invitation_id": invitation.pk,
            "invited_by": invitation.invited_by.get_username() if invitation.invited_by else "",
        },
    )
    return user, invitation
