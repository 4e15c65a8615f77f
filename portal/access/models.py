"""Invitations of customer administrators.

Nothing secret is stored: the link's token is signed with SECRET_KEY and
carries the invitation's id, its customer and its send count, so a resend
voids the earlier link and acceptance or revocation voids every link.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.customers.models import Customer, Membership


def invitation_max_age() -> timedelta:
    return timedelta(days=settings.INVITATION_MAX_AGE_DAYS)


class Invitation(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REVOKED = "revoked", _("Revoked")
        EXPIRED = "expired", _("Expired")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("customer")
    )
    email = models.EmailField(_("e-mail"), max_length=254)
    role = models.CharField(
        _("role"), max_length=10, choices=Membership.Role.choices, default=Membership.Role.ADMIN
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("last sent"), default=timezone.now)
    # Part of the signed token: a resend increments it, so only the newest link works.
    send_count = models.PositiveIntegerField(_("times sent"), default=1)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            # One open invitation per address and customer: resend it instead.
            models.UniqueConstraint(
                "customer",
                Lower("email"),
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.customer}"

    @property
    def expires_at(self):
        return self.sent_at + invitation_max_age()

    @property
    def state(self) -> str:
        if self.revoked_at:
            return self.State.REVOKED
        if self.accepted_at:
            return self.State.ACCEPTED
        if timezone.now() > self.expires_at:
            return self.State.EXPIRED
        return self.State.PENDING

    def get_state_display(self) -> str:
        return str(self.State(self.state).label)

    @property
    def is_open(self) -> bool:
        """Not accepted nor revoked (an expired one can still be resent)."""
        return self.accepted_at is None and self.revoked_at is None
