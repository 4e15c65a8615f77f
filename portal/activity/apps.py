from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivityConfig(AppConfig):
    """The activity log: who did what, to which customer, and when."""

    name = "portal.activity"
    label = "activity"
    verbose_name = _("Activity log")
