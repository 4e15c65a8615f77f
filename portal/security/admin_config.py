"""Installs `PortalAdminSite` as `django.contrib.admin.site`, so every
`@admin.register` (ours, django-axes', django-otp's) lands on it."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "portal.security.admin_site.PortalAdminSite"
