"""The activity log: an append-only record of what people did (connect,
disconnect, mapping, Sync now, invitations, memberships, policies...).

Rows are never changed or deleted by the application: `save` refuses an
update and `delete` refuses outright. The actor's and customer's names are
copied so the record survives their deletion.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.customers.models import Customer


class ImmutableError(Exception):
    """An attempt to change or delete an activity record."""


class ActivityQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableError("Activity records are never changed.")

    def delete(self):
        raise ImmutableError("Activity records are never deleted.")


class Activity(models.Model):
    class Kind(models.TextChoices):
        CONNECTED = "connected", _("Connected a tenant")
        DISCONNECTED = "disconnected", _("Disconnected the tenant")
        MAPPING_CHANGED = "mapping_changed", _("Changed the site mapping")
        SYNC_REQUESTED = "sync_requested", _("Started a sync (Sync now)")
        POLICY_CHANGED = "policy_changed", _("Changed a sync policy")
        RUN_UNDONE = "run_undone", _("Undid a sync run")
        CHANGE_APPROVED = "change_approved", _("Approved held changes")
        CHANGE_REJECTED = "change_rejected", _("Rejected held changes")
        INVITATION_SENT = "invitation_sent", _("Invited an administrator")
        INVITATION_RESENT = "invitation_resent", _("Resent an invitation")
        INVITATION_REVOKED = "invitation_revoked", _("Revoked an invitation")
        INVITATION_ACCEPTED = "invitation_accepted", _("Accepted an invitation")
        MEMBERSHIP_ADDED = "membership_added", _("Added a membership")
        MEMBERSHIP_CHANGED = "membership_changed", _("Changed a membership")
        MEMBERSHIP_REMOVED = "membership_removed", _("Removed a membership")

    at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    actor_name = models.CharField(_("who (name)"), max_length=150, blank=True)
    # Indexed by the (customer, -at) index below.
    customer = models.ForeignKey(
        Customer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        db_index=False,
        verbose_name=_("customer"),
    )
    customer_name = models.CharField(_("customer"), max_length=200, blank=True)
    kind = models.CharField(_("what"), max_length=30, choices=Kind.choices)
    target = models.CharField(_("on"), max_length=300, blank=True)
    old_value = models.TextField(_("before"), blank=True)
    new_value = models.TextField(_("after"), blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("activity entry")
        verbose_name_plural = _("activity entries")
        indexes = [
            models.Index(fields=["customer", "-at"], name="activity_customer_date_idx"),
            models.Index(fields=["-at"], name="activity_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'}: {self.get_kind_display()} {self.target}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ImmutableError("Activity records are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError("Activity records are never deleted.")
