"""Connecting and disconnecting a customer's tenant (R11, R14).

Only verified facts are saved: the caller has already proved, with an
app-only token whose `tid` and `roles` were checked, that the tenant
consented. Nothing secret is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from integrations.graph import tokens
from integrations.graph.errors import ConsentRequiredError, PermissionDeniedError, TransientError
from integrations.graph.models import AccessToken
from integrations.models import AzureConnection, Health, MappingAttribute, SyncRun
from portal.activity import services as activity
from portal.customers.models import Customer

logger = logging.getLogger(__name__)

# Marked for translation; shown with gettext() in the reader's language.
REMOVE_APP_INSTRUCTIONS = gettext_noop(
    "To remove the portal's access from your tenant as well, sign in to the Microsoft Entra admin center, "
    "open Identity › Applications › Enterprise applications, select the portal's application, "
    "and choose Properties › Delete."
)


# A fresh consent can take a while to reach tokens: 6 tries, 5 s apart.
CONSENT_RETRY_DELAY_SECONDS = 5.0


class ConnectError(Exception):
    """A connection that must not be made; the message is safe to show."""


def verify_tenant_access(
    tenant_id: str,
    *,
    attempts: int = 6,
    sleep: Callable[[float], None] | None = None,
    fresh_consent: bool = False,
) -> AccessToken:
    """Prove the app may read the tenant: an app-only token for it with the right `tid` and role.

    A fresh admin consent can take a while to reach tokens: until it has,
    Entra may issue a token without the role, or (with `fresh_consent`, the
    consent callback) refuse one outright (AADSTS700016 / 7000229: the app is
    not in the tenant yet). Both are retried a few times (about 30 seconds),
    each time clearing MSAL's cache. Any permission that reads users is
    accepted (`tokens.READ_ROLES`).
    """
    sleep = sleep or time.sleep
    for attempt in range(attempts):
        try:
            # A retry drops MSAL's cached token and its cached 400 (remove_tokens_for_client).
            token = tokens.get_app_token(tenant_id, force_refresh=attempt > 0)
        except (ConsentRequiredError, TransientError):
            # Right after a consent the token endpoint itself may still say AADSTS700016.
            if not fresh_consent or attempt == attempts - 1:
                raise
            sleep(CONSENT_RETRY_DELAY_SECONDS)
            continue
        if token.tenant_id.lower() != tenant_id.lower():
            raise ConnectError(_("Microsoft issued a token for a different tenant; nothing was connected."))
        try:
            token = tokens.get_app_token(tenant_id, force_refresh=attempt > 0)
            if token.tenant_id.lower() != tenant_id.lower():
                raise ConnectError("Microsoft issued a token for a different tenant; nothing was connected.")
            tokens.require_role(token)
            return token
        except ConsentRequiredError:
            if attempt == attempts - 1:
                raise
            sleep(CONSENT_RETRY_DELAY_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


def read_tenant_name(tenant_id: str, *, fallback: str = "") -> str:
    """The tenant's display name; reading it needs Organization.Read.All, which
    the app may lack (User.Read.All is all the sync needs), so fall back."""
    from integrations.graph.client import GraphClient

    try:
        return GraphClient(tenant_id).get_organization_name()
    except PermissionDeniedError:
        return fallback


def connection_connect(
    *,
    customer: Customer,
    tenant_id: str,
    tenant_name: str = "",
    connected_by: User | None = None,
    attribute: str = MappingAttribute.OFFICE,
) -> AzureConnection:
    """Save (or renew, after a reconsent) the customer's connection to a verified tenant."""
    tenant_id = tenant_id.strip().lower()
    user = connected_by if connected_by is not None and connected_by.is_authenticated else None
    try:
        with transaction.atomic():
            bound = AzureConnection.objects.select_for_update().filter(tenant_id=tenant_id).first()
            if bound is not None and bound.customer_id != customer.pk:
                raise ConnectError(
                    _(
                        "This Microsoft tenant is already connected to another customer. "
                        "A tenant can be connected to one customer at a time; disconnect it there first."
                    )
                )
            existing = AzureConnection.objects.select_for_update().filter(customer=customer).first()
            if existing is not None and existing.tenant_id != tenant_id:
                raise ConnectError(
                    _(
                        "%(customer)s is already connected to another tenant (%(tenant)s). Disconnect it first."
                    )
                    % {"customer": customer.name, "tenant": existing.tenant_name or existing.tenant_id}
                )
            if existing is not None:
                return _renew(existing, tenant_name)
            return AzureConnection.objects.create(
                customer=customer,
                tenant_id=tenant_id,
                tenant_name=tenant_name,
                mapping_attribute=attribute,
                connected_by=user,
                connected_at=timezone.now(),
            )
    except IntegrityError as exc:  # a concurrent connect of the same tenant won the race
        raise ConnectError(_("This Microsoft tenant was just connected to another customer.")) from exc


@dataclass(frozen=True)
class Connected:
    """What a consent led to: the connection, and whether it was a reconnect."""

    connection: AzureConnection
    reconnected: bool  # the mapping was still there: no directory read was queued
    tenant_label: str  # the tenant's name, or its id when the name could not be read


def connection_connect_from_consent(
    *, customer: Customer, tenant_id: str, tenant_name: str = "", connected_by: User | None
) -> Connected:
    """The end of the consent flow (docs/design.md §4): prove the tenant's consent
    reached the app's tokens, connect, record it, and read the directory so its
    offices or departments can be mapped (not on a reconnect: its mapping is kept).

    Raises ConnectError (the message is safe to show) or a MicrosoftError.
    """
    from integrations.services.runs import directory_read

    if not customer.azure_sync_available:
        raise ConnectError(_("The Microsoft Entra ID sync is not included in this customer's plan."))
    verify_tenant_access(tenant_id, fresh_consent=True)
    tenant_name = tenant_name or read_tenant_name(tenant_id)
    connection = connection_connect(
        customer=customer, tenant_id=tenant_id, tenant_name=tenant_name, connected_by=connected_by
    )
    activity.connection_connected(connection, actor=connected_by)
    logger.info(
        "Customer %s connected to tenant %s by user %s",
        customer.pk,
        tenant_id,
        connected_by.pk if connected_by is not None else None,
    )
    label = tenant_name or tenant_id
    if connection.mappings.exists():
        return Connected(connection=connection, reconnected=True, tenant_label=label)
    directory_read(connection=connection, requested_by=connected_by)
    return Connected(connection=connection, reconnected=False, tenant_label=label)


def _renew(connection: AzureConnection, tenant_name: str) -> AzureConnection:
    """Reconnecting the same tenant (after consent was revoked) makes it healthy and due again."""
    connection.tenant_name = tenant_name or connection.tenant_name
    connection.health = Health.HEALTHY
    connection.health_reason = ""
    connection.health_reason_params = {}
    connection.consecutive_failures = 0
    if connection.mappings.exists():
        connection.next_sync_at = timezone.now()
    connection.save()
    return connection


def connection_disconnect(*, connection: AzureConnection, actor: User | None = None) -> str:
    """Stop syncing: cancel queued runs, drop the mirror and mapping, keep contacts and history;
    the customer's activity log records it (`actor`: who, None for a command).

    A running run notices at its next page (its lease is gone with the row)
    and stops as cancelled. Returns how to remove the app from the tenant.
    """
    tenant_id = connection.tenant_id
    with transaction.atomic():
        SyncRun.cancel_queued(connection, SyncRun.DISCONNECTED)
        connection.delete()
    # Recorded after the delete's commit, as before the service took this over: the
    # transaction that deletes the mirror's rows stays as short as it can.
    activity.connection_disconnected(connection, actor=actor)
    tokens.forget_tenant(tenant_id)
    logger.info("Disconnected tenant %s from customer %s", tenant_id, connection.customer_id)
    return _(REMOVE_APP_INSTRUCTIONS)
