"""The sync rules of SPEC.md section 2, one test each (R4-R10, R16), run on
whichever database the suite runs on (CI: PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest

from integrations.models import FieldChange, SiteMapping, SyncRun
from portal.customers.models import Contact

pytestmark = pytest.mark.django_db


def add_person(directory, **props):
    base = {
        "givenName": "Ada",
        "surname": "Lovelace",
        "jobTitle": "Analyst",
        "mobilePhone": "+39 333 000 0001",
        "mail": "ada@contoso.com",
        "officeLocation": "Milan HQ",
    }
    return directory.add(**{**base, **props})


def test_r4_users_are_placed_by_mapped_value_case_insensitively_and_unmapped_are_skipped(
    mapped, directory, sync, milan, rome
):
    add_person(directory, mail="a@contoso.com", officeLocation="  milan hq ")
    add_person(directory, mail="b@contoso.com", officeLocation="ROME")
    add_person(directory, mail="c@contoso.com", officeLocation="Paris")
    add_person(directory, mail="d@contoso.com", officeLocation=None)

    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Contact.objects.get(email="a@contoso.com").site == milan
    assert Contact.objects.get(email="b@contoso.com").site == rome
    assert not Contact.objects.filter(email__in=["c@contoso.com", "d@contoso.com"]).exists()
    assert run.skipped_by_reason == {"empty_site_value": 1, "unmapped_site_value": 1}


def test_r4_department_attribute_places_users_when_chosen(mapped, directory, sync, rome):
    mapped.mapping_attribute = "department"
    mapped.save()
    SiteMapping.objects.create(connection=mapped, value="Finance", site=rome)
    add_person(directory, mail="a@contoso.com", officeLocation="Milan HQ", department="finance")

    sync(mapped)

    assert Contact.objects.get(email="a@contoso.com").site == rome


def test_r5_initial_import_creates_every_mapped_user_including_shared_mailboxes(mapped, directory, sync):
    add_person(directory, mail="ada@contoso.com")
    add_person(
        directory,
        purpose="shared",
        givenName=None,
        surname=None,
        displayName="Reception",
        mail="reception@contoso.com",
        accountEnabled=False,
        assignedLicenses=[],
    )

    run = sync(mapped, trigger=SyncRun.Trigger.INITIAL)

    assert run.created == 2
    assert run.fields_changed == 0  # created contacts are audited as "created", not as field changes
    shared = Contact.objects.get(email="reception@contoso.com")
    assert shared.is_shared_mailbox
    assert not Contact.objects.get(email="ada@contoso.com").is_shared_mailbox


def test_r5_existing_contact_is_not_duplicated_by_the_initial_import(
    mapped, directory, sync, customer, milan
):
    Contact.objects.create(customer=customer, site=milan, email="ADA@contoso.com", first_name="Ada")
    add_person(directory, mail="ada@contoso.com")

    run = sync(mapped)

    assert run.created == 0
    assert Contact.objects.filter(customer=customer).count() == 1


def test_r6_matching_by_email_is_case_insensitive_and_falls_back_to_upn(
    mapped, directory, sync, customer, milan
):
    Contact.objects.create(customer=customer, site=milan, email="Ada@Contoso.com", job_title="old")
    add_person(directory, mail="ada@CONTOSO.com", jobTitle="new")
    add_person(directory, mail=None, userPrincipalName="grace@contoso.com", givenName="Grace")
    add_person(directory, mail=None, userPrincipalName="guest_x.com#EXT#@contoso.onmicrosoft.com")

    run = sync(mapped)

    assert Contact.objects.get(email="Ada@Contoso.com").job_title == "new"
    assert Contact.objects.get(email="grace@contoso.com").first_name == "Grace"
    assert run.skipped_by_reason == {"no_email": 1}


def test_r6_matching_stays_within_the_customer(mapped, directory, sync, other_customer):
    Contact.objects.create(customer=other_customer, email="ada@contoso.com", job_title="theirs")
    add_person(directory, mail="ada@contoso.com", jobTitle="ours")

    sync(mapped)

    assert Contact.objects.get(customer=other_customer).job_title == "theirs"
    assert Contact.objects.get(customer=mapped.customer).job_title == "ours"


def test_r7_matched_contact_fields_are_all_overwritten_including_with_empty_values(
    mapped, directory, sync, customer, rome
):
    contact = Contact.objects.create(
        customer=customer,
        site=rome,
        email="ada@contoso.com",
        first_name="A.",
        last_name="L.",
        job_title="Countess",
        mobile_phone="+44 1",
    )
    add_person(directory, givenName="Ada", surname="Lovelace", jobTitle=None, mobilePhone=None)

    run = sync(mapped)

    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.job_title, contact.mobile_phone) == (
        "Ada",
        "Lovelace",
        "",
        "",
    )
    assert contact.site.name == "Milan"
    assert run.updated == 1
    fields = set(FieldChange.objects.filter(run=run).values_list("field", flat=True))
    assert fields == {"first_name", "last_name", "job_title", "mobile_phone", "site"}


def test_r7_fields_already_equal_are_neither_written_nor_logged(mapped, directory, sync, customer, milan):
    contact = Contact.objects.create(
        customer=customer,
        site=milan,
        email="ada@contoso.com",
        first_name="Ada",
        last_name="Lovelace",
        job_title="Analyst",
        mobile_phone="+39 333 000 0001",
    )
    before = contact.updated_at
    add_person(directory)

    run = sync(mapped)

    contact.refresh_from_db()
    assert run.updated == 0 and run.unchanged == 1
    assert not FieldChange.objects.filter(run=run).exists()
    assert contact.azure_object_id  # the link is recorded...
    run2 = sync(mapped)
    contact.refresh_from_db()
    assert run2.unchanged == 1 and not FieldChange.objects.filter(run=run2).exists()
    assert contact.updated_at >= before


def test_r8_portal_only_contacts_and_contacts_of_deleted_users_are_untouched(
    mapped, directory, sync, customer, milan
):
    portal_only = Contact.objects.create(
        customer=customer, site=milan, email="local@contoso.com", job_title="x"
    )
    user_id = add_person(directory, mail="leaver@contoso.com")
    sync(mapped)
    leaver = Contact.objects.get(email="leaver@contoso.com")
    snapshot = {
        f: getattr(leaver, f) for f in ("first_name", "last_name", "job_title", "mobile_phone", "site_id")
    }

    directory.remove(user_id)
    run = sync(mapped)

    leaver.refresh_from_db()
    portal_only.refresh_from_db()
    assert {f: getattr(leaver, f) for f in snapshot} == snapshot
    assert portal_only.job_title == "x"
    assert Contact.objects.filter(customer=customer).count() == 2
    assert not FieldChange.objects.filter(run=run).exists()


def test_r9_local_edits_are_overwritten_at_the_next_sync_even_without_directory_changes(
    mapped, directory, sync
):
    add_person(directory, jobTitle="Analyst")
    sync(mapped)
    Contact.objects.filter(email="ada@contoso.com").update(job_title="Edited in the portal")

    run = sync(mapped)

    assert Contact.objects.get(email="ada@contoso.com").job_title == "Analyst"
    change = FieldChange.objects.get(run=run)
    assert (change.field, change.old_value, change.new_value) == (
        "job_title",
        "Edited in the portal",
        "Analyst",
    )
    assert directory.requests[-1].startswith("delta:")  # nothing was refetched


def test_r10_an_email_edited_in_the_portal_forks_a_new_contact(mapped, directory, sync, customer):
    add_person(directory, jobTitle="Analyst")
    sync(mapped)
    Contact.objects.filter(email="ada@contoso.com").update(email="ada.personal@example.com", job_title="Mine")

    run = sync(mapped)

    assert run.created == 1
    assert Contact.objects.get(email="ada@contoso.com").job_title == "Analyst"
    edited = Contact.objects.get(email="ada.personal@example.com")
    assert edited.job_title == "Mine"
    sync(mapped)
    edited.refresh_from_db()
    assert edited.job_title == "Mine"


def test_r16_every_overwritten_field_and_created_contact_is_audited_with_old_and_new_values(
    mapped, directory, sync, customer
):
    user_id = add_person(directory, jobTitle="Analyst")
    first = sync(mapped)
    created = FieldChange.objects.get(run=first)
    assert (created.field, created.contact.email, created.customer) == (
        "created",
        "ada@contoso.com",
        customer,
    )

    directory.update(user_id, jobTitle="Lead Analyst", mobilePhone="+39 1")
    second = sync(mapped)

    changes = {c.field: (c.old_value, c.new_value) for c in FieldChange.objects.filter(run=second)}
    assert changes == {
        "job_title": ("Analyst", "Lead Analyst"),
        "mobile_phone": ("+39 333 000 0001", "+39 1"),
    }
    assert second.fields_changed == 2
    assert all(c.changed_at and c.contact_id for c in FieldChange.objects.filter(run=second))
