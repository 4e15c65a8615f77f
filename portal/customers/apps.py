from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    """Customers of the MSP, their sites, contacts and portal memberships."""

    name = "portal.customers"
    label = "customers"
    verbose_name = _("Customers")
