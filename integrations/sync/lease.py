"""One sync at a time per connection, on SQLite and PostgreSQL alike.

A lease is a token and an expiry written on the connection row by a
conditional UPDATE: whoever's UPDATE matched holds it. Holders renew it
between pages and re-check it before every commit, so a run whose lease was
taken over (it stalled past the expiry) or whose connection was deleted
(disconnect, R14) stops instead of writing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from integrations.models import AzureConnection

LEASE_DURATION = timedelta(minutes=10)


class LeaseLost(Exception):
    """The lease expired and was taken, or the connection is gone."""


class Lease:
    """A held lease on one connection."""

    def __init__(self, connection_id: int, token: uuid.UUID) -> None:
        self.connection_id = connection_id
        self.token = token

    @classmethod
    def acquire(cls, connection_id: int) -> Lease | None:
        """Take the lease if it is free or expired; None when another run holds it."""
        now = timezone.now()
        token = uuid.uuid4()
        taken = (
            AzureConnection.objects.filter(pk=connection_id)
            .filter(Q(lease_token__isnull=True) | Q(lease_expires_at__lt=now))
            .update(lease_token=token, lease_expires_at=now + LEASE_DURATION)
        )
        return cls(connection_id, token) if taken else None

    def renew(self) -> None:
        """Extend the lease; raise LeaseLost if it is no longer ours.

        Inside a transaction this UPDATE also locks the connection row until
        commit, so the check and the writes it guards are atomic.
        """
        renewed = AzureConnection.objects.filter(pk=self.connection_id, lease_token=self.token).update(
            lease_expires_at=timezone.now() + LEASE_DURATION
        )
        if not renewed:
            raise LeaseLost("The connection was disconnected or another sync took over.")

    def release(self) -> None:
        AzureConnection.objects.filter(pk=self.connection_id, lease_token=self.token).update(
            lease_token=None, lease_expires_at=None
        )


def is_leased(connection: AzureConnection) -> bool:
    return bool(
        connection.lease_token
        and connection.lease_expires_at
        and connection.lease_expires_at > timezone.now()
    )
