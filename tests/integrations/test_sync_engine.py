"""The engine's behaviour beyond the numbered rules: classification, duplicates,
delta merges, expiry, dry runs, mapping changes and awkward values."""

from __future__ import annotations

import pytest

from integrations.graph.errors import DeltaExpiredError
from integrations.models import DirectoryUser, FieldChange, SiteMapping, SyncRun
from integrations.sync.classify import FALLBACK_WARNING
from portal.customers.models import Contact
from tests.integrations.fakes import object_id
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db


def contact_snapshot():
    return sorted(
        Contact.objects.values_list(
            "customer_id",
            "email",
            "first_name",
            "last_name",
            "job_title",
            "mobile_phone",
            "site_id",
            "is_shared_mailbox",
        )
    )


def test_room_and_equipment_mailboxes_are_imported_and_flagged(mapped, directory, sync):
    add_person(directory, purpose="room", mail="room1@contoso.com", accountEnabled=False, assignedLicenses=[])
    add_person(directory, purpose="equipment", mail="beamer@contoso.com", accountEnabled=False)

    sync(mapped)

    assert set(Contact.objects.filter(is_shared_mailbox=True).values_list("email", flat=True)) == {
        "room1@contoso.com",
        "beamer@contoso.com",
    }


def test_guests_and_disabled_people_are_skipped_with_their_reason(mapped, directory, sync):
    add_person(directory, mail="guest@partner.com", userType="Guest")
    add_person(directory, mail="leaver@contoso.com", accountEnabled=False, purpose="user")
    add_person(directory, mail="nobox@contoso.com", accountEnabled=False, purpose="none")

    run = sync(mapped)

    assert not Contact.objects.exists()
    assert run.skipped_by_reason == {"disabled_account": 2, "guest": 1}


def test_mailbox_purpose_is_asked_once_and_kept_in_the_mirror(mapped, directory, sync):
    add_person(directory, purpose="shared", mail="info@contoso.com", accountEnabled=False)
    sync(mapped)
    asked = directory.purpose_requests

    sync(mapped)

    assert directory.purpose_requests == asked == 1
    assert DirectoryUser.objects.get(mail="info@contoso.com").purpose == "shared"


def test_reenabled_account_is_classified_again(mapped, directory, sync):
    user_id = add_person(directory, purpose="user", mail="back@contoso.com", accountEnabled=False)
    sync(mapped)
    assert not Contact.objects.exists()
    directory.update(user_id, accountEnabled=True)

    sync(mapped)

    assert Contact.objects.filter(email="back@contoso.com").exists()
    assert DirectoryUser.objects.get(object_id=user_id).purpose == ""


def test_without_mailbox_settings_permission_shared_mailboxes_fall_back_to_their_shape(
    mapped, directory, sync
):
    directory.mailbox_settings_readable = False
    add_person(directory, mail="info@contoso.com", accountEnabled=False, assignedLicenses=[])
    add_person(directory, mail="leaver@contoso.com", accountEnabled=False, assignedLicenses=[{"skuId": "e3"}])

    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert list(Contact.objects.values_list("email", "is_shared_mailbox")) == [("info@contoso.com", True)]
    assert FALLBACK_WARNING in run.warnings
    mapped.refresh_from_db()
    assert mapped.mailbox_settings_readable is False


def test_duplicate_emails_keep_one_deterministic_winner_without_flip_flop(mapped, directory, sync):
    disabled_box = add_person(
        directory,
        purpose="shared",
        mail="Team@contoso.com",
        jobTitle="mailbox",
        accountEnabled=False,
        id=object_id(1),
    )
    person = add_person(directory, mail="team@contoso.com", jobTitle="person", id=object_id(9))
    run = sync(mapped)
    assert Contact.objects.get().job_title == "person"
    assert run.skipped_by_reason == {"duplicate_email": 1}

    for _ in range(3):
        # A change to the loser (or re-reading both) never flips the winner.
        directory.update(disabled_box, jobTitle="mailbox again")
        again = sync(mapped)
        assert Contact.objects.get().job_title == "person"
        assert not FieldChange.objects.filter(run=again).exists()
    assert Contact.objects.get().azure_object_id == person


def test_duplicate_emails_among_equals_pick_the_lowest_object_id(mapped, directory, sync):
    add_person(directory, mail="dup@contoso.com", jobTitle="second", id=object_id(20))
    add_person(directory, mail="DUP@contoso.com", jobTitle="first", id=object_id(10))

    sync(mapped)

    assert Contact.objects.get().job_title == "first"


def test_a_second_run_without_changes_writes_nothing(mapped, directory, sync):
    for n in range(7):
        add_person(directory, mail=f"user{n}@contoso.com")
    sync(mapped)
    before = contact_snapshot()
    updated_at = list(Contact.objects.values_list("updated_at", flat=True))

    run = sync(mapped)

    assert (run.created, run.updated, run.unchanged, run.fields_changed) == (0, 0, 7, 0)
    assert contact_snapshot() == before
    assert list(Contact.objects.values_list("updated_at", flat=True)) == updated_at
    assert not FieldChange.objects.filter(run=run).exists()


def test_delta_pages_merge_only_the_changed_properties_into_the_mirror(mapped, directory, sync):
    user_id = add_person(directory, jobTitle="Analyst", mobilePhone="+39 1", department="R&D")
    sync(mapped)

    directory.update(user_id, jobTitle="Lead")
    run = sync(mapped)

    mirrored = DirectoryUser.objects.get(object_id=user_id)
    assert (mirrored.job_title, mirrored.mobile_phone, mirrored.department) == ("Lead", "+39 1", "R&D")
    assert run.fetched == 1 and not run.full_pass
    assert Contact.objects.get().mobile_phone == "+39 1"


def test_removed_users_are_marked_in_the_mirror_and_leave_their_contact_alone(mapped, directory, sync):
    user_id = add_person(directory)
    sync(mapped)

    directory.remove(user_id)
    sync(mapped)

    assert DirectoryUser.objects.get(object_id=user_id).removed
    assert Contact.objects.get().first_name == "Ada"


def test_expired_delta_link_falls_back_to_a_full_pass_that_marks_vanished_users(mapped, directory, sync):
    keep = add_person(directory, mail="keep@contoso.com")
    gone = add_person(directory, mail="gone@contoso.com")
    sync(mapped)
    # The user disappears while the link is expired: only a full pass can notice.
    directory.users.pop(gone)
    directory.update(keep, jobTitle="Changed")
    directory.expire_links()

    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.full_pass
    assert any("expired" in warning for warning in run.warning_texts)
    assert DirectoryUser.objects.get(object_id=gone).removed
    assert Contact.objects.get(email="keep@contoso.com").job_title == "Changed"
    mapped.refresh_from_db()
    assert mapped.delta_link == f"delta:{directory.version}"


def test_a_delta_round_that_expires_after_some_pages_counts_only_the_full_pass_read_instead(
    mapped, directory, sync, monkeypatch
):
    """Graph may answer a delta round's next link with 410 Gone (resync required): the pages
    read before it are read again by the full pass, and counted and noted once."""
    ids = [add_person(directory, mail=f"u{n}@contoso.com") for n in range(6)]
    sync(mapped)
    for user_id in ids:
        directory.update(user_id, jobTitle="T" * 200)  # each is stored shortened, with a note
    directory.page_size = 2
    read_pages = directory.iter_user_delta

    def expiring_after_one_page(delta_link=None):
        pages = read_pages(delta_link)
        if delta_link is None:
            yield from pages
            return
        yield next(pages)
        raise DeltaExpiredError("resyncRequired", code="resyncRequired", status=410)

    monkeypatch.setattr(directory, "iter_user_delta", expiring_after_one_page)

    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED and run.full_pass
    assert (run.fetched, run.updated) == (6, 6)
    assert sum("longer than 128" in warning for warning in run.warning_texts) == 6


def test_dry_run_writes_no_contact_and_loses_no_change_for_the_next_run(mapped, directory, sync):
    user_id = add_person(directory, jobTitle="Analyst")
    sync(mapped)
    directory.update(user_id, jobTitle="Lead")
    add_person(directory, mail="new@contoso.com")
    before = contact_snapshot()

    preview = sync(mapped, dry_run=True)

    assert contact_snapshot() == before
    assert not FieldChange.objects.filter(run=preview).exists()
    assert (preview.created, preview.updated) == (1, 1)
    assert preview.preview["sample_changes"] == [
        {"email": "ada@contoso.com", "field": "job_title", "old": "Analyst", "new": "Lead"}
    ]
    mapped.refresh_from_db()
    assert mapped.last_sync_at is not None  # set by the first, real run only
    real = sync(mapped)
    assert (real.created, real.updated) == (1, 1)
    assert Contact.objects.get(email="ada@contoso.com").job_title == "Lead"


def test_a_mapping_change_replaces_contacts_without_fetching_again(mapped, directory, sync, rome):
    add_person(directory, officeLocation="Milan HQ")
    sync(mapped)
    fetched_before = len(directory.requests)

    SiteMapping.objects.filter(connection=mapped, value="Milan HQ").update(site=rome)
    run = sync(mapped)

    assert Contact.objects.get().site == rome
    assert FieldChange.objects.get(run=run).new_value == "Rome"
    assert run.fetched == 0 and len(directory.requests) == fetched_before + 1


def test_unicode_and_maximum_length_values_round_trip_exactly(mapped, directory, sync):
    given = "Zoë-Ŝtéphanie 李小龍 🚀" + "x" * (64 - len("Zoë-Ŝtéphanie 李小龍 🚀"))
    title = "Ingénieure principale — 研究开发 " + "y" * (128 - len("Ingénieure principale — 研究开发 "))
    add_person(directory, givenName=given, jobTitle=title, surname="Ñúñez", mobilePhone="+" + "9" * 63)

    run = sync(mapped)

    contact = Contact.objects.get()
    assert (contact.first_name, contact.job_title, contact.last_name) == (given, title, "Ñúñez")
    assert len(contact.mobile_phone) == 64
    assert run.warnings == []


def test_nul_bytes_and_oversize_values_are_cleaned_and_noted_not_fatal(mapped, directory, sync):
    add_person(directory, mail="nul@contoso.com", givenName="Ad\x00a", jobTitle="T" * 300)
    add_person(directory, mail="fine@contoso.com")

    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED
    contact = Contact.objects.get(email="nul@contoso.com")
    assert contact.first_name == "Ada" and contact.job_title == "T" * 128
    assert any("NUL" in w for w in run.warning_texts) and any(
        "longer than 128" in w for w in run.warning_texts
    )
    assert Contact.objects.filter(email="fine@contoso.com").exists()


def test_a_network_failure_mid_fetch_fails_the_run_and_the_next_run_converges(mapped, directory, sync):
    for n in range(10):
        add_person(directory, mail=f"u{n}@contoso.com")
    directory.fail_after_pages = 2

    failed = sync(mapped)

    assert failed.status == SyncRun.Status.FAILED
    assert "internal error" in failed.error
    assert not Contact.objects.exists()
    mapped.refresh_from_db()
    assert mapped.delta_link == "" and mapped.health == "backing_off" and mapped.next_sync_at
    directory.fail_after_pages = None
    recovered = sync(mapped)
    assert recovered.status == SyncRun.Status.SUCCEEDED and recovered.created == 10


def test_a_full_pass_treats_properties_graph_left_out_as_empty(mapped, directory, sync):
    user_id = add_person(directory, jobTitle="Analyst")
    sync(mapped)
    # Graph omits never-set properties on a full enumeration: the title is gone.
    del directory.users[user_id]["jobTitle"]
    directory.expire_links()

    sync(mapped)

    assert DirectoryUser.objects.get(object_id=user_id).job_title == ""
    assert Contact.objects.get().job_title == ""
