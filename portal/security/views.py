"""The two-factor page: verify this session, enrol an authenticator app, recovery codes.

Everything that changes a device is a POST; enrolling a replacement app or
turning the second factor off needs a session already verified by a device,
so a stolen password alone cannot swap or remove it.
"""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_otp import user_has_device

from portal.security import devices
from portal.security.two_factor import staff_must_enrol
from portal.users import signed_in_user


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    has_device = user_has_device(user, confirmed=True)
    verified = user.is_verified()  # type: ignore[attr-defined]  # added by django-otp's OTPMiddleware
    if not has_device and not devices.may_enrol(user):
        raise Http404(_("Two-factor authentication is for staff and customer administrators."))
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = CodeForm(request.POST if action in ("verify", "enrol") else None)

    if has_device and not verified:
        if (
            action == "verify"
            and form.is_valid()
            and devices.verify(request=request, token=form.cleaned_data["code"])
        ):
            return redirect(_next_url(request))
        if action == "verify":
            form.add_error(None, _("That code is not valid. Try the current code or a recovery code."))
        return render(request, "registration/two_factor_verify.html", {"form": form, "next": _next(request)})

    if action == "start" and (not has_device or verified):
        devices.start_enrolment(user=user)
        return redirect(_self_url(request))
    pending = devices.pending_app_device(user) if (not has_device or verified) else None
    if action == "enrol" and pending is not None:
        if form.is_valid():
            codes = devices.confirm_enrolment(
                request=request, device=pending, token=form.cleaned_data["code"]
            )
            if codes is not None:
                return render(
                    request, "registration/two_factor_codes.html", {"codes": codes, "next": _next(request)}
                )
        form.add_error(
            None, _("That code is not valid. Check the time on your phone and try the current code.")
        )
    if action == "recovery" and verified:
        codes = devices.new_recovery_codes(user=user)
        return render(request, "registration/two_factor_codes.html", {"codes": codes, "next": _next(request)})
    if action == "disable" and verified and not staff_must_enrol(user):
        devices.disable(user=user)
        messages.success(request, _("Two-factor authentication is off."))
        return redirect("two_factor")

    context = {
        "form": form,
        "has_device": has_device,
        "required": staff_must_enrol(user),
        "may_disable": has_device and verified and not staff_must_enrol(user),
        "pending": pending,
        "next": _next(request),
    }
    if pending is not None:
        uri = pending.config_url
        context.update(
            otpauth_uri=uri,
            secret=_base32(pending),
            qr_svg=segno.make(uri, error="m").svg_inline(scale=4, light="#fff"),
        )
    return render(request, "registration/two_factor.html", context)


def _base32(device) -> str:
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else ""


def _next_url(request: HttpRequest) -> str:
    return _next(request) or settings.LOGIN_REDIRECT_URL


def _self_url(request: HttpRequest) -> str:
    target = _next(request)
    return reverse("two_factor") + ("?" + urlencode({"next": target}) if target else "")
