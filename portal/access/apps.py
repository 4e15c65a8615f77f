from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    """Who may use the portal: the MSP staff group, invitations of customer administrators,
    and the rules for granting memberships."""

    name = "portal.access"
    label = "access"
    verbose_name = _("People and access")
