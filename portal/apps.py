from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The customer-facing portal pages (templates and template tags)."""

    name = "portal"
    verbose_name = "Customer portal"
