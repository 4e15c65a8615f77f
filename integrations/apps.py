from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The Microsoft Entra ID connection and the contact sync."""

    name = "integrations"
    verbose_name = "Entra ID integration"
