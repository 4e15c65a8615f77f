from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Customers of the MSP, their sites, contacts and portal memberships."""

    name = "portal.customers"
    label = "customers"
    verbose_name = "Customers"
