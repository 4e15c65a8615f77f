"""Two-factor authentication (django-otp): staff need a verified authenticator
app (or a recovery code) to reach the admin when STAFF_REQUIRE_2FA is on;
customer admins may opt in; customer portal users are otherwise unaffected."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.security import devices

TWO_FACTOR = "/accounts/two-factor/"


@pytest.fixture(autouse=True)
def required(settings):
    settings.STAFF_REQUIRE_2FA = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # wrong-then-right codes within a second, in these tests


def code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """What the authenticator app shows (or will show `steps_ahead` periods from now)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def enrol(client: Client, user) -> tuple[TOTPDevice, list[str]]:
    client.post(TWO_FACTOR, {"action": "start"})
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(TWO_FACTOR, {"action": "enrol", "code": code(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", response.content.decode())
    device.refresh_from_db()
    return device, codes


def test_staff_without_a_second_factor_cannot_reach_the_admin(staff_with_permission):
    client = signed_in(staff_with_permission)

    for path in ("/admin/", "/admin/customers/customer/", reverse("portal:home")):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(TWO_FACTOR + "?next=")


def test_the_admin_itself_refuses_an_unverified_staff_session(staff_with_permission, settings):
    """Defence in depth: even without the middleware, the OTP admin site says no."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("SecondFactorMiddleware")]
    response = signed_in(staff_with_permission).get("/admin/customers/customer/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_enrol_an_app_get_recovery_codes_and_reach_the_admin(staff_with_permission):
    client = signed_in(staff_with_permission)
    page = client.get(TWO_FACTOR).content.decode()
    assert "Staff accounts need a second factor" in page

    client.post(TWO_FACTOR, {"action": "start"})
    setup = client.get(TWO_FACTOR).content.decode()
    device = TOTPDevice.objects.get(user=staff_with_permission, confirmed=False)
    assert "otpauth://totp/MSP%20Portal%3Atech?secret=" in setup
    assert "<svg" in setup  # the QR code, drawn inline (no script, no data: URL)

    device, codes = enrol(client, staff_with_permission)

    assert device.confirmed
    assert len(codes) == devices.RECOVERY_CODES
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_does_not_confirm_the_app(staff_with_permission):
    client = signed_in(staff_with_permission)
    client.post(TWO_FACTOR, {"action": "start"})
    device = TOTPDevice.objects.get(user=staff_with_permission)
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"

    response = client.post(TWO_FACTOR, {"action": "enrol", "code": wrong})

    assert "That code is not valid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/admin/").status_code == 302


def test_after_the_next_password_login_the_code_is_asked_again(staff_with_permission):
    device, _ = enrol(signed_in(staff_with_permission), staff_with_permission)
    client = signed_in(staff_with_permission)  # a new session: password only

    assert client.get("/admin/").status_code == 302
    response = client.post(TWO_FACTOR + "?next=/admin/", {"action": "verify", "code": code(device, 1)})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_code_is_accepted_once(staff_with_permission):
    device, _ = enrol(signed_in(staff_with_permission), staff_with_permission)
    used = code(device, 1)
    first, second = signed_in(staff_with_permission), signed_in(staff_with_permission)

    assert first.post(TWO_FACTOR, {"action": "verify", "code": used}).status_code == 302
    replay = second.post(TWO_FACTOR, {"action": "verify", "code": used})

    assert replay.status_code == 200
    assert second.get("/admin/").status_code == 302


def test_a_recovery_code_works_once(staff_with_permission):
    _, codes = enrol(signed_in(staff_with_permission), staff_with_permission)
    first, second = signed_in(staff_with_permission), signed_in(staff_with_permission)

    assert first.post(TWO_FACTOR, {"action": "verify", "code": codes[0]}).status_code == 302
    assert first.get("/admin/").status_code == 200
    assert second.post(TWO_FACTOR, {"action": "verify", "code": codes[0]}).status_code == 200
    assert second.get("/admin/").status_code == 302
    assert StaticToken.objects.filter(device__user=staff_with_permission).count() == len(codes) - 1


def test_new_recovery_codes_replace_the_old_ones(staff_with_permission):
    client = signed_in(staff_with_permission)
    _, old = enrol(client, staff_with_permission)

    response = client.post(TWO_FACTOR, {"action": "recovery"})

    new = re.findall(r"<li><code>([a-z0-9]+)</code></li>", response.content.decode())
    stored = set(
        StaticToken.objects.filter(device__user=staff_with_permission).values_list("token", flat=True)
    )
    assert stored == set(new) and not stored & set(old)


def test_the_admin_login_form_asks_for_the_code(staff_with_permission):
    device, _ = enrol(signed_in(staff_with_permission), staff_with_permission)
    client = Client()
    credentials = {"username": "tech", "password": "pw-tech"}

    without = client.post("/admin/login/?next=/admin/", credentials, REMOTE_ADDR="192.0.2.1")
    assert "Please enter your OTP token" in without.content.decode()
    assert "_auth_user_id" not in client.session

    # After the password, the form lists the user's devices (app, recovery codes) to choose from.
    assert device.persistent_id in without.content.decode()
    with_code = client.post(
        "/admin/login/?next=/admin/",
        {**credentials, "otp_device": device.persistent_id, "otp_token": code(device, 1)},
        REMOTE_ADDR="192.0.2.1",
    )
    assert with_code.status_code == 302, with_code.context["form"].errors
    assert client.get("/admin/").status_code == 200


def test_a_password_alone_cannot_replace_or_remove_the_app(staff_with_permission, settings):
    settings.STAFF_REQUIRE_2FA = False  # so that turning it off would be allowed once verified
    device, _ = enrol(signed_in(staff_with_permission), staff_with_permission)
    client = signed_in(staff_with_permission)

    client.post(TWO_FACTOR, {"action": "start"})
    client.post(TWO_FACTOR, {"action": "disable"})
    client.post(TWO_FACTOR, {"action": "recovery"})

    assert list(TOTPDevice.objects.filter(user=staff_with_permission)) == [device]
    assert not TOTPDevice.objects.filter(user=staff_with_permission, confirmed=False).exists()


def test_customer_portal_users_are_unaffected(customer_admin, customer_member, customer):
    for user in (customer_admin, customer_member):
        client = signed_in(user)
        assert client.get(reverse("portal:home")).status_code == 200
        assert client.get(reverse("portal:customer", args=[customer.pk])).status_code == 200


def test_a_customer_admin_may_opt_in_and_then_must_present_the_code(customer_admin, customer):
    device, _ = enrol(signed_in(customer_admin), customer_admin)
    client = signed_in(customer_admin)

    assert client.get(reverse("portal:home")).status_code == 302
    client.post(TWO_FACTOR, {"action": "verify", "code": code(device, 1)})
    assert client.get(reverse("portal:customer", args=[customer.pk])).status_code == 200


def test_a_customer_admin_may_turn_it_off_but_staff_may_not_when_required(
    customer_admin, staff_with_permission
):
    admin_client = signed_in(customer_admin)
    enrol(admin_client, customer_admin)
    staff_client = signed_in(staff_with_permission)
    enrol(staff_client, staff_with_permission)

    admin_client.post(TWO_FACTOR, {"action": "disable"})
    staff_client.post(TWO_FACTOR, {"action": "disable"})

    assert not TOTPDevice.objects.filter(user=customer_admin).exists()
    assert TOTPDevice.objects.filter(user=staff_with_permission, confirmed=True).exists()


def test_plain_members_have_no_enrolment_page(customer_member):
    assert signed_in(customer_member).get(TWO_FACTOR).status_code == 404


def test_with_the_setting_off_staff_reach_the_admin_without_a_phone(staff_with_permission, settings):
    """The demo (`make run`, DEBUG on) keeps STAFF_REQUIRE_2FA off by default."""
    settings.STAFF_REQUIRE_2FA = False

    assert signed_in(staff_with_permission).get("/admin/").status_code == 200


def test_a_next_url_elsewhere_is_ignored(staff_with_permission):
    device, _ = enrol(signed_in(staff_with_permission), staff_with_permission)
    client = signed_in(staff_with_permission)

    response = client.post(
        TWO_FACTOR + "?next=https://evil.example/", {"action": "verify", "code": code(device, 1)}
    )

    assert response["Location"] == reverse("portal:home")
