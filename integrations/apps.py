from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_delete
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    """The Microsoft Entra ID connection and the contact sync."""

    name = "integrations"
    verbose_name = _("Microsoft Entra ID integration")

    def ready(self) -> None:
        # The dispatcher schedule is created in code after every migrate (idempotently).
        post_migrate.connect(_ensure_schedule, sender=self)
        from integrations.deletion import lock_before_delete
        from integrations.models import AzureConnection

        pre_delete.connect(
            lock_before_delete, sender=AzureConnection, dispatch_uid="connection-lock-before-delete"
        )


def _ensure_schedule(**kwargs) -> None:
    from integrations.services.scheduling import ensure_dispatch_schedule

    ensure_dispatch_schedule()
