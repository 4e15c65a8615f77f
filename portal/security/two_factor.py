"""Who must present a second factor, and the middleware that holds them to it.

A user with a confirmed device (staff or a customer admin who opted in) must
present it after every password login; staff must have one at all when
`STAFF_REQUIRE_2FA` is on. Until then such a session reaches only the
two-factor page, the login and the logout: not the admin, not the portal.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_otp import user_has_device

# URL names a session still waiting for its second factor may reach.
OPEN_TO_UNVERIFIED = frozenset({"login", "logout", "two_factor", "healthz", "readyz"})


def staff_must_enrol(user) -> bool:
    return bool(user.is_staff and settings.STAFF_REQUIRE_2FA)


def second_factor_pending(user) -> bool:
    """True when this signed-in session still owes its second factor."""
    if not user.is_authenticated or user.is_verified():
        return False
    return staff_must_enrol(user) or user_has_device(user, confirmed=True)


class SecondFactorMiddleware:
    """Sends sessions that owe a second factor to the two-factor page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_TO_UNVERIFIED:
            return None
        if not second_factor_pending(request.user):
            return None
        target = reverse("two_factor")
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(target)
