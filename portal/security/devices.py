"""Enrolment, verification and recovery codes, on django-otp's own devices.

One authenticator app (TOTP) per user and one set of single-use recovery codes
(a static device). Codes are checked by django-otp, which also throttles
wrong guesses per device.
"""

from __future__ import annotations

import logging

import django_otp
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.customers.models import Membership

log = logging.getLogger(__name__)

APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODES = 10


def may_enrol(user) -> bool:
    """Staff, and customer admins who opt in; plain members have nothing to protect."""
    return bool(user.is_staff or Membership.objects.filter(user=user, role=Membership.Role.ADMIN).exists())


def pending_app_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def start_enrolment(*, user) -> TOTPDevice:
    """A fresh secret to scan; it counts only once a code from it is confirmed."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


def confirm_enrolment(*, request: HttpRequest, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the app with a code it shows; returns the new recovery codes (or None)."""
    if device.user_id != request.user.pk or not device.verify_token(token):
        log.warning("Two-factor enrolment: wrong code for user id %s", request.user.pk)
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=request.user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = new_recovery_codes(user=request.user)
    django_otp.login(request, device)
    log.info("Two-factor enrolment: user id %s enrolled an authenticator app", request.user.pk)
    return codes


def new_recovery_codes(*, user) -> list[str]:
    """Replace the user's recovery codes; the old ones stop working at once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def verify(*, request: HttpRequest, token: str) -> bool:
    """Check a code from the app or a recovery code; mark the session verified."""
    token = token.strip().replace(" ", "")
    for device in django_otp.devices_for_user(request.user, confirmed=True):
        matched = django_otp.verify_token(request.user, device.persistent_id, token)
        if matched is not None:
            django_otp.login(request, matched)
            return True
    log.warning("Two-factor verification failed for user id %s", request.user.pk)
    return False


def disable(*, user) -> None:
    """Remove every device (customer admins may opt out; staff may when not required)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    log.info("Two-factor authentication turned off for user id %s", user.pk)
