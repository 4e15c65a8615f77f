"""Every contact has a name, and mailboxes say which kind they are (README.md, "Names and mailboxes")."""

from __future__ import annotations

import pytest

from integrations.models import FieldChange, SyncRun
from portal.customers.models import Contact
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


def add_mailbox(directory, purpose: str, mail: str, display: str) -> str:
    return add_person(
        directory,
        purpose=purpose,
        givenName=None,
        surname=None,
        jobTitle=None,
        mobilePhone=None,
        displayName=display,
        mail=mail,
        accountEnabled=False,
        assignedLicenses=[],
    )


def test_it_names_a_contact_by_its_display_name_when_entra_has_no_given_name_or_surname(
    mapped, directory, sync
):
    add_mailbox(directory, "shared", "accounts.milan@contoso.com", "  Accounts Milan ")

    sync(mapped, trigger=SyncRun.Trigger.INITIAL)

    contact = Contact.objects.get(email="accounts.milan@contoso.com")
    assert (contact.first_name, contact.last_name) == ("Accounts Milan", "")


def test_it_keeps_given_name_and_surname_when_entra_has_either(mapped, directory, sync):
    add_person(directory, mail="solo@contoso.com", givenName="Cher", surname=None, displayName="Cher Display")

    sync(mapped)

    contact = Contact.objects.get(email="solo@contoso.com")
    assert (contact.first_name, contact.last_name) == ("Cher", "")


def test_it_audits_the_display_name_given_to_a_nameless_contact_like_any_field(
    mapped, directory, sync, customer, milan
):
    Contact.objects.create(customer=customer, site=milan, email="room.milan@contoso.com")
    add_mailbox(directory, "room", "room.milan@contoso.com", "Room Milan HQ 1.04")

    run = sync(mapped)

    change = FieldChange.objects.get(run=run, field="first_name")
    assert (change.contact_email, change.old_value, change.new_value) == (
        "room.milan@contoso.com",
        "",
        "Room Milan HQ 1.04",
    )


def test_it_records_shared_room_and_equipment_mailboxes_as_such(mapped, directory, sync):
    add_mailbox(directory, "shared", "info@contoso.com", "Info")
    add_mailbox(directory, "room", "room1@contoso.com", "Room 1")
    add_mailbox(directory, "equipment", "beamer@contoso.com", "Projector Milan")
    add_person(directory, mail="ada@contoso.com")

    sync(mapped)

    assert dict(Contact.objects.values_list("email", "mailbox_purpose")) == {
        "info@contoso.com": "shared",
        "room1@contoso.com": "room",
        "beamer@contoso.com": "equipment",
        "ada@contoso.com": "",
    }
    assert set(Contact.objects.filter(is_shared_mailbox=True).values_list("email", flat=True)) == {
        "info@contoso.com",
        "room1@contoso.com",
        "beamer@contoso.com",
    }


def test_a_mailbox_of_unknown_purpose_that_looks_shared_is_badged_shared(mapped, directory, sync):
    directory.mailbox_settings_readable = False
    add_mailbox(directory, "shared", "info@contoso.com", "Info")

    sync(mapped)

    assert Contact.objects.get(email="info@contoso.com").mailbox_purpose == "shared"
