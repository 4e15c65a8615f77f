from django.apps import AppConfig


class MicrosoftSimulatorConfig(AppConfig):
    """Development tool: installed only when `DEV_TOOLS` is on (the default under DEBUG)."""

    name = "microsoft_simulator"
    verbose_name = "Microsoft simulator (development only)"
