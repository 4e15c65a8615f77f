"""Who may manage a customer's Entra ID integration (R3).

Staff holding `integrations.manage_azure` (or superusers) for every customer;
a customer's own administrators for that customer only. Views answer 404 to
users who may not even see the customer, and 403 to those who may see it but
not manage it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from portal.customers.models import Customer, Membership
from portal.users import RequestUser

PERMISSION = "integrations.manage_azure"


def is_integration_staff(user: RequestUser) -> bool:
    return bool(user.is_active and user.is_staff and (user.is_superuser or user.has_perm(PERMISSION)))


def can_view(user: RequestUser, customer: Customer) -> bool:
    if not user.is_authenticated:
        return False
    return is_integration_staff(user) or Membership.objects.filter(user=user, customer=customer).exists()


def can_manage(user: RequestUser, customer: Customer) -> bool:
    if not user.is_authenticated:
        return False
    if is_integration_staff(user):
        return True
    return Membership.objects.filter(user=user, customer=customer, role=Membership.Role.ADMIN).exists()


def require_manage(user: RequestUser, customer: Customer) -> None:
    """404 for strangers (no existence leak), 403 for members and staff without the permission."""
    if can_manage(user, customer):
        return
    if can_view(user, customer) or (user.is_authenticated and user.is_staff):
        raise PermissionDenied(
            _("You need to be an administrator of this customer to manage its Microsoft Entra ID connection.")
        )
    raise Http404(_("No such customer."))


def require_view(user: RequestUser, customer: Customer) -> None:
    if not can_view(user, customer):
        if user.is_authenticated and user.is_staff:
            raise PermissionDenied(_("You do not have the Microsoft Entra ID integration permission."))
        raise Http404(_("No such customer."))
