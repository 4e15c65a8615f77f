"""Session lifetimes: an absolute limit for everyone, an idle limit for staff.

Django's SESSION_COOKIE_AGE restarts whenever the session is saved, so the
absolute limit is kept here from the first request after sign-in. Staff lose
their session after `STAFF_SESSION_IDLE_MINUTES` without a request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.translation import gettext as _

STARTED = "portal_session_started"
SEEN = "portal_session_seen"
SEEN_RESOLUTION = 60  # seconds: write the last-seen time at most once a minute


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            expired = self._expired(request, user, int(time.time()))
            if expired:
                return self._sign_out(request, expired)
        return self.get_response(request)

    def _expired(self, request: HttpRequest, user, now: int) -> str:
        session = request.session
        started = session.setdefault(STARTED, now)
        if now - started > settings.SESSION_COOKIE_AGE:
            return _("Your session has ended. Please log in again.")
        if user.is_staff:
            seen = session.get(SEEN, now)
            if now - seen > settings.STAFF_SESSION_IDLE_MINUTES * 60:
                return _("You were logged out after a period without activity. Please log in again.")
            if now - seen >= SEEN_RESOLUTION or SEEN not in session:
                session[SEEN] = now
        return ""

    def _sign_out(self, request: HttpRequest, reason: str) -> HttpResponse:
        logout(request)
        messages.info(request, reason)
        target = resolve_url(settings.LOGIN_URL)
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(target)
