from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    """Who may use the portal: the MSP staff group, invitations of customer administrators,
    and the rules for granting memberships."""

    name = "portal.access"
    label = "access"
    verbose_name = _("People and access")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from portal.access.staff_group import ensure_staff_group

        # The migration creates the group; this keeps it after a flush (test databases) too.
        post_migrate.connect(ensure_staff_group, sender=self, dispatch_uid="portal.access.staff_group")
