"""The admin site: django-otp's `OTPAdminSite` when staff must use a second factor.

With `STAFF_REQUIRE_2FA` on, the login form asks for the one-time code too and
only a session verified by a device has the admin; with it off (the demo) the
admin is Django's own. The setting is read per request, so tests can flip it.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import TO_FIELD_VAR
from django.http import HttpRequest
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class PortalAdminSite(OTPAdminSite):
    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    @property
    def login_form(self) -> type[AdminAuthenticationForm]:
        return OTPAdminAuthenticationForm if settings.STAFF_REQUIRE_2FA else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return "admin/login_otp.html" if settings.STAFF_REQUIRE_2FA else None

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.STAFF_REQUIRE_2FA:
            return super().has_permission(request)  # is_staff and verified by a device
        return AdminSite.has_permission(self, request)

    def admin_view(self, view, cacheable: bool = False):
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def without_empty_to_field(request: HttpRequest, *args, **kwargs):
            # Django looks up a field named "" for `?_to_field=` on the change and
            # delete pages (a 500); an empty value means "the primary key".
            for name in ("GET", "POST"):
                params = getattr(request, name)
                if params.get(TO_FIELD_VAR, None) == "":
                    params = params.copy()
                    del params[TO_FIELD_VAR]
                    setattr(request, name, params)
            return inner(request, *args, **kwargs)

        return without_empty_to_field
