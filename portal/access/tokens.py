"""The invitation link's token: Django's signing with a timestamp (`max_age`).

The payload binds the link to one invitation, its customer and its send
count; the invitation's state makes it single-use.
"""

from __future__ import annotations

from django.core import signing
from django.utils.translation import gettext as _

from portal.access.models import Invitation, invitation_max_age

SALT = "portal.access.invitation"


class InvalidInvitation(Exception):
    """The link cannot be used; the message says why in plain words."""


def make_token(invitation: Invitation) -> str:
    return signing.dumps(
        {"i": invitation.pk, "c": invitation.customer_id, "v": invitation.send_count}, salt=SALT
    )


def invitation_for_token(token: str, *, customer_id: int) -> Invitation:
    """The pending invitation `token` opens for `customer_id`, or InvalidInvitation."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=invitation_max_age())
    except signing.SignatureExpired as exc:
        raise InvalidInvitation(_("This invitation link has expired. Ask for a new one.")) from exc
    except signing.BadSignature as exc:
        raise InvalidInvitation(_("This invitation link is not valid.")) from exc
    if not isinstance(payload, dict) or payload.get("c") != customer_id:
        raise InvalidInvitation(_("This invitation link is not valid."))
    invitation_id = payload.get("i")
    if not isinstance(invitation_id, int):
        raise InvalidInvitation(_("This invitation link is not valid."))
    invitation = (
        Invitation.objects.select_related("customer")
        .filter(pk=invitation_id, customer_id=customer_id)
        .first()
    )
    if invitation is None or invitation.revoked_at is not None:
        raise InvalidInvitation(_("This invitation was withdrawn."))
    if invitation.accepted_at is not None:
        raise InvalidInvitation(_("This invitation was already accepted. Log in instead."))
    if payload.get("v") != invitation.send_count:
        raise InvalidInvitation(_("A newer invitation was sent; use the link in the latest e-mail."))
    if invitation.state == Invitation.State.EXPIRED:
        raise InvalidInvitation(_("This invitation link has expired. Ask for a new one."))
    return invitation
