"""Inviting a customer administrator: from the admin and from the portal; the
link is single-use, expires, is bound to its customer; resend and revoke."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.access import tokens
from portal.access.invitations import invitation_create
from portal.access.models import Invitation
from portal.activity.models import Activity
from portal.customers.models import Membership
from tests.access.conftest import client_for
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-battery-9"


def link_in(message) -> str:
    match = re.search(r"https?://\S+/invitations/\d+/\S+/", message.body)
    assert match, message.body
    return "/" + match.group(0).split("://", 1)[1].split("/", 1)[1]


def invite(actor, customer, email, capture) -> Invitation:
    with capture(execute=True):
        return invitation_create(actor=actor, customer=customer, email=email)


def accept(client: Client, path: str, username: str = "newadmin"):
    return client.post(path, {"username": username, "password1": PASSWORD, "password2": PASSWORD})


def test_staff_invite_from_the_admin_and_the_invitee_becomes_administrator(
    msp_staff, customer, django_capture_on_commit_callbacks
):
    client = client_for(msp_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:access_invitation_add"), {"customer": customer.pk, "email": "Dana@Contoso.com"}
        )
    assert response.status_code == 302, response.content
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["Dana@Contoso.com"]
    assert customer.name in message.subject
    assert message.alternatives and "text/html" in message.alternatives[0][1]

    invitee = Client()
    path = link_in(message)
    assert invitee.get(path).status_code == 200
    response = accept(invitee, path)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:customer", args=[customer.pk])
    user = User.objects.get(username="newadmin")
    assert user.email.lower() == "dana@contoso.com" and user.check_password(PASSWORD)
    assert Membership.objects.get(user=user, customer=customer).role == Membership.Role.ADMIN
    assert invitee.get(reverse("portal:customer", args=[customer.pk])).status_code == 200
    invitation = Invitation.objects.get()
    assert invitation.state == Invitation.State.ACCEPTED and invitation.accepted_by == user


def test_the_link_works_once(msp_staff, customer, django_capture_on_commit_callbacks):
    invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    path = link_in(mail.outbox[0])
    assert accept(Client(), path).status_code == 302

    response = accept(Client(), path, username="second")
    assert response.status_code == 400
    assert b"already accepted" in response.content
    assert not User.objects.filter(username="second").exists()


def test_the_link_expires(msp_staff, customer, django_capture_on_commit_callbacks, settings):
    settings.INVITATION_MAX_AGE_DAYS = 7
    invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    path = link_in(mail.outbox[0])
    eight_days_later = time.time() + 8 * 86400
    with mock.patch("time.time", return_value=eight_days_later):
        response = accept(Client(), path)
    assert response.status_code == 400
    assert b"expired" in response.content
    assert not User.objects.filter(username="newadmin").exists()


def test_the_link_cannot_be_used_for_another_customer(
    msp_staff, customer, other_customer, django_capture_on_commit_callbacks
):
    invitation = invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    token = tokens.make_token(invitation)
    forged = reverse("access:accept", kwargs={"customer_id": other_customer.pk, "token": token})
    response = accept(Client(), forged)
    assert response.status_code == 400
    assert not Membership.objects.filter(customer=other_customer).exists()
    assert not User.objects.filter(username="newadmin").exists()


def test_a_tampered_or_garbage_token_is_refused(msp_staff, customer, django_capture_on_commit_callbacks):
    invitation = invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    token = tokens.make_token(invitation)
    for bad in (token[:-2] + "xx", "nonsense", "a" * 500, token.replace(":", ";")):
        path = reverse("access:accept", kwargs={"customer_id": customer.pk, "token": bad})
        assert Client().get(path).status_code == 400


def test_resend_voids_the_earlier_link_and_revoke_voids_all(
    msp_staff, customer, django_capture_on_commit_callbacks
):
    from portal.access.invitations import invitation_resend, invitation_revoke

    invitation = invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    first = link_in(mail.outbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        invitation_resend(actor=msp_staff, invitation=invitation)
    second = link_in(mail.outbox[1])
    assert first != second
    assert b"newer invitation" in Client().get(first).content
    assert Client().get(second).status_code == 200

    invitation_revoke(actor=msp_staff, invitation=invitation)
    assert Client().get(second).status_code == 400
    assert Invitation.objects.get().state == Invitation.State.REVOKED


def test_an_existing_account_accepts_by_logging_in_with_the_invited_address(
    msp_staff, customer, django_capture_on_commit_callbacks
):
    existing = make_user("dana", email="dana@contoso.com")
    invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    path = link_in(mail.outbox[0])
    # Anonymous: no second account for the same address.
    assert accept(Client(), path).status_code == 400
    # Someone else logged in cannot take it.
    assert client_for(make_user("eve", email="eve@example.com")).post(path).status_code == 400
    assert client_for(existing).post(path).status_code == 302
    assert Membership.objects.get(user=existing).role == "admin"


def test_a_customer_admin_invites_from_the_portal_resends_and_revokes(
    customer, customer_admin, django_capture_on_commit_callbacks
):
    client = client_for(customer_admin)
    url = reverse("access:invitations", args=[customer.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"email": "erin@contoso.com"})
    assert response.status_code == 302
    assert mail.outbox[0].to == ["erin@contoso.com"]
    invitation = Invitation.objects.get()
    page = client.get(url).content.decode()
    assert "erin@contoso.com" in page and "Pending" in page

    action = reverse("access:invitation_action", args=[customer.pk, invitation.pk, "resend"])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(action).status_code == 302
    assert len(mail.outbox) == 2
    client.post(reverse("access:invitation_action", args=[customer.pk, invitation.pk, "revoke"]))
    assert "Revoked" in client.get(url).content.decode()
    kinds = list(Activity.objects.filter(customer=customer).order_by("pk").values_list("kind", "actor"))
    assert kinds == [
        ("invitation_sent", customer_admin.pk),
        ("invitation_resent", customer_admin.pk),
        ("invitation_revoked", customer_admin.pk),
    ]


def test_members_strangers_and_other_customers_admins_cannot_invite(
    customer, customer_member, other_admin, staff_without_azure
):
    url = reverse("access:invitations", args=[customer.pk])
    assert client_for(customer_member).post(url, {"email": "x@example.com"}).status_code == 403
    assert client_for(other_admin).post(url, {"email": "x@example.com"}).status_code == 404
    assert Client().post(url, {"email": "x@example.com"}).status_code == 302  # to the login page
    response = client_for(staff_without_azure).post(
        reverse("admin:access_invitation_add"), {"customer": customer.pk, "email": "x@example.com"}
    )
    assert response.status_code in (200, 403)
    assert not Invitation.objects.exists()


def test_actions_need_post_csrf_and_the_invitations_own_customer(
    msp_staff, customer, customer_admin, other_customer, django_capture_on_commit_callbacks
):
    theirs = invite(msp_staff, other_customer, "zed@fabrikam.com", django_capture_on_commit_callbacks)
    client = client_for(customer_admin)
    # Another customer's invitation through this customer's URL: not found.
    assert (
        client.post(reverse("access:invitation_action", args=[customer.pk, theirs.pk, "revoke"])).status_code
        == 404
    )
    mine = invite(msp_staff, customer, "yan@contoso.com", django_capture_on_commit_callbacks)
    action = reverse("access:invitation_action", args=[customer.pk, mine.pk, "revoke"])
    assert client.get(action).status_code == 405
    assert client_for(customer_admin, enforce_csrf_checks=True).post(action).status_code == 403
    assert (
        client.post(reverse("access:invitation_action", args=[customer.pk, mine.pk, "explode"])).status_code
        == 404
    )
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.is_open and mine.is_open


def test_one_open_invitation_per_address(msp_staff, customer, django_capture_on_commit_callbacks):
    from portal.access.invitations import InvitationError

    invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    with pytest.raises(InvitationError):
        invitation_create(actor=msp_staff, customer=customer, email="DANA@contoso.com")


def test_accepting_records_the_invitee_and_the_membership_grant(
    msp_staff, customer, django_capture_on_commit_callbacks
):
    invite(msp_staff, customer, "dana@contoso.com", django_capture_on_commit_callbacks)
    accept(Client(), link_in(mail.outbox[0]))
    user = User.objects.get(username="newadmin")
    rows = dict(Activity.objects.filter(customer=customer).values_list("kind", "actor"))
    assert rows["invitation_sent"] == msp_staff.pk
    assert rows["invitation_accepted"] == user.pk
    assert rows["membership_added"] == msp_staff.pk  # granted by the inviter
