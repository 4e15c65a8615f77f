"""Each connection policy (design.md §6.2) through `run_sync`, on the suite's database
(CI: PostgreSQL and SQLite), including the transitions between policies."""

from __future__ import annotations

import pytest

from integrations.models import FieldChange, SyncRun
from integrations.sync.runner import plan_for_connection
from portal.customers.models import Contact, ContactPin
from tests.integrations.fakes import object_id

pytestmark = pytest.mark.django_db

GROUP = "aaaaaaaa-0000-0000-0000-000000000001"
NESTED = "aaaaaaaa-0000-0000-0000-000000000002"


def add_person(directory, n: int, **props):
    base = {
        "givenName": f"Person{n}",
        "surname": "Test",
        "jobTitle": "Analyst",
        "mobilePhone": f"+39 333 {n:07d}",
        "mail": f"p{n}@contoso.com",
        "officeLocation": "Milan HQ",
    }
    return directory.add(**{**base, **props})


def set_policy(connection, **values):
    for name, value in values.items():
        setattr(connection, name, value)
    connection.save(update_fields=list(values))


def audit(field: str) -> list[tuple[str, str, str]]:
    rows = FieldChange.objects.filter(field=field).order_by("id")
    return [(row.contact_email, row.old_value, row.new_value) for row in rows]


# -- leavers --------------------------------------------------------------------------------
def test_a_leaver_is_deactivated_and_reactivated_with_audit_rows(mapped, directory, sync):
    set_policy(mapped, leavers="deactivate")
    gone = add_person(directory, 1)
    disabled = add_person(directory, 2)
    add_person(directory, 3)
    sync(mapped)
    portal_only = Contact.objects.create(customer=mapped.customer, email="walk-in@contoso.com")

    directory.remove(gone)
    directory.update(disabled, accountEnabled=False)
    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED
    active = dict(Contact.objects.values_list("email", "is_active"))
    assert active == {
        "p1@contoso.com": False,
        "p2@contoso.com": False,
        "p3@contoso.com": True,
        "walk-in@contoso.com": True,
    }
    assert audit("is_active") == [("p1@contoso.com", "True", "False"), ("p2@contoso.com", "True", "False")]
    assert run.policy_summary["deactivated"] == 2

    directory.update(disabled, accountEnabled=True)
    add_person(directory, 1, id=gone)
    run = sync(mapped)

    assert Contact.objects.filter(is_active=False).count() == 0
    assert sorted(audit("is_active")[2:]) == [
        ("p1@contoso.com", "False", "True"),
        ("p2@contoso.com", "False", "True"),
    ]
    assert run.policy_summary["reactivated"] == 2
    portal_only.refresh_from_db()
    assert portal_only.is_active


def test_keep_leaves_leavers_active_as_r8_says(mapped, directory, sync):
    gone = add_person(directory, 1)
    sync(mapped)

    directory.remove(gone)
    sync(mapped)

    assert Contact.objects.get(email="p1@contoso.com").is_active
    assert not FieldChange.objects.filter(field="is_active").exists()


def test_switching_leavers_to_deactivate_catches_up_and_back_to_keep_reactivates_only_returners(
    mapped, directory, sync
):
    gone = add_person(directory, 1)
    sync(mapped)
    directory.remove(gone)
    sync(mapped)
    assert Contact.objects.get(email="p1@contoso.com").is_active

    set_policy(mapped, leavers="deactivate")
    sync(mapped)
    assert not Contact.objects.get(email="p1@contoso.com").is_active

    set_policy(mapped, leavers="keep")
    sync(mapped)
    assert not Contact.objects.get(email="p1@contoso.com").is_active  # keep: nothing is decided for leavers


def test_the_brake_counts_deactivations(mapped, directory, sync, settings):
    from integrations.sync.runner import run_sync

    settings.AZURE_BRAKE_MINIMUM = 2
    set_policy(mapped, leavers="deactivate", brake_percent=50)
    ids = [add_person(directory, n) for n in range(1, 6)]
    sync(mapped)
    for oid in ids[:3]:
        directory.remove(oid)

    run = run_sync(mapped, trigger=SyncRun.Trigger.MANUAL, client_factory=directory)

    assert run.status == SyncRun.Status.HELD
    assert "3 of 5" in run.error_text
    assert Contact.objects.filter(is_active=False).count() == 0


# -- identity -------------------------------------------------------------------------------
def test_a_rename_under_object_identity_updates_one_contact_and_creates_none(mapped, directory, sync):
    set_policy(mapped, identity="object")
    oid = add_person(directory, 1)
    sync(mapped)

    directory.update(oid, mail="renamed@contoso.com")
    run = sync(mapped)

    assert run.created == 0
    assert list(Contact.objects.values_list("email", flat=True)) == ["renamed@contoso.com"]
    assert audit("email") == [("renamed@contoso.com", "p1@contoso.com", "renamed@contoso.com")]
    assert run.policy_summary["renamed"] == 1


def test_a_rename_under_email_identity_forks_as_r10_says(mapped, directory, sync):
    oid = add_person(directory, 1)
    sync(mapped)

    directory.update(oid, mail="renamed@contoso.com")
    run = sync(mapped)

    assert run.created == 1
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "p1@contoso.com",
        "renamed@contoso.com",
    ]
    assert not FieldChange.objects.filter(field="email").exists()


def test_a_local_email_edit_is_overwritten_back_under_object_identity(mapped, directory, sync):
    set_policy(mapped, identity="object")
    add_person(directory, 1)
    sync(mapped)
    Contact.objects.filter(email="p1@contoso.com").update(email="typo@contoso.com")

    run = sync(mapped)

    assert run.created == 0
    assert list(Contact.objects.values_list("email", flat=True)) == ["p1@contoso.com"]
    assert audit("email") == [("p1@contoso.com", "typo@contoso.com", "p1@contoso.com")]


def test_switching_to_object_identity_links_existing_contacts_by_email_first(mapped, directory, sync, milan):
    handmade = Contact.objects.create(customer=mapped.customer, email="P1@contoso.com", site=milan)
    oid = add_person(directory, 1)
    set_policy(mapped, identity="object")

    sync(mapped)
    handmade.refresh_from_db()
    assert handmade.azure_object_id == oid
    directory.update(oid, mail="renamed@contoso.com")
    sync(mapped)

    handmade.refresh_from_db()
    assert handmade.email == "renamed@contoso.com"
    assert Contact.objects.count() == 1


def test_two_directory_objects_never_claim_one_contact(mapped, directory, sync):
    set_policy(mapped, identity="object")
    first = add_person(directory, 1)
    sync(mapped)

    directory.update(first, mail="renamed@contoso.com")
    add_person(directory, 2, mail="p1@contoso.com", id=object_id(9001))
    run = sync(mapped)

    contact = Contact.objects.get(azure_object_id=first)
    assert contact.email == "renamed@contoso.com"
    assert run.skipped_by_reason == {"email_held_by_other_object": 1}
    run = sync(mapped)  # the old email is free now: the second object gets its own contact
    assert run.created == 1
    assert Contact.objects.get(email="p1@contoso.com").azure_object_id == object_id(9001)


# -- scope ----------------------------------------------------------------------------------
def test_a_nested_group_member_is_in_scope(mapped, directory, sync):
    direct = add_person(directory, 1)
    nested = add_person(directory, 2)
    add_person(directory, 3)
    directory.add_group(NESTED, nested)
    directory.add_group(GROUP, direct, NESTED)
    set_policy(mapped, scope_groups=[GROUP])

    run = sync(mapped)

    assert sorted(Contact.objects.values_list("email", flat=True)) == ["p1@contoso.com", "p2@contoso.com"]
    assert run.skipped_by_reason == {"not_in_scope_groups": 1}
    assert directory.group_reads == [GROUP]


def test_out_of_scope_users_are_deactivated_under_the_leavers_policy(mapped, directory, sync):
    add_person(directory, 1)
    unlicensed = add_person(directory, 2)
    sync(mapped)
    directory.update(unlicensed, assignedLicenses=[])
    set_policy(mapped, licensed_only=True, leavers="deactivate")

    run = sync(mapped)

    assert run.skipped_by_reason == {"unlicensed": 1}
    assert not Contact.objects.get(email="p2@contoso.com").is_active
    assert Contact.objects.get(email="p1@contoso.com").is_active


def test_leaving_a_scope_group_deactivates_and_joining_it_again_reactivates(mapped, directory, sync):
    member = add_person(directory, 1)
    directory.add_group(GROUP, member)
    set_policy(mapped, scope_groups=[GROUP], leavers="deactivate")
    sync(mapped)
    assert Contact.objects.get(email="p1@contoso.com").is_active

    directory.groups[GROUP] = set()
    sync(mapped)
    assert not Contact.objects.get(email="p1@contoso.com").is_active

    directory.groups[GROUP] = {member}
    sync(mapped)
    assert Contact.objects.get(email="p1@contoso.com").is_active


# -- field ownership ------------------------------------------------------------------------
def test_a_pinned_field_survives_ten_syncs_and_its_divergence_is_shown(mapped, directory, sync):
    oid = add_person(directory, 1, jobTitle="Analyst")
    sync(mapped)
    contact = Contact.objects.get(email="p1@contoso.com")
    Contact.objects.filter(pk=contact.pk).update(job_title="Team lead (local)")
    ContactPin.objects.create(contact=contact, field="job_title")

    for n in range(10):
        directory.update(oid, jobTitle=f"Analyst {n}")
        run = sync(mapped)
        assert run.status == SyncRun.Status.SUCCEEDED

    contact.refresh_from_db()
    assert contact.job_title == "Team lead (local)"
    assert run.policy_summary["divergences"] == {
        "count": 1,
        "sample": [
            {
                "email": "p1@contoso.com",
                "field": "job_title",
                "local": "Team lead (local)",
                "directory": "Analyst 9",
            }
        ],
    }
    assert not FieldChange.objects.filter(field="job_title").exists()


def test_a_portal_owned_field_is_never_written(mapped, directory, sync):
    set_policy(mapped, portal_owned_fields=["mobile_phone"])
    oid = add_person(directory, 1, mobilePhone="+39 1")
    sync(mapped)
    assert Contact.objects.get().mobile_phone == ""
    Contact.objects.update(mobile_phone="+39 local")

    directory.update(oid, mobilePhone="+39 2", jobTitle="Boss")
    sync(mapped)

    contact = Contact.objects.get()
    assert (contact.mobile_phone, contact.job_title) == ("+39 local", "Boss")


# -- the preview is the run -------------------------------------------------------------------
POLICIES = [
    {},
    {"leavers": "deactivate"},
    {"identity": "object"},
    {"licensed_only": True, "leavers": "deactivate"},
    {"scope_groups": [GROUP], "leavers": "deactivate", "identity": "object"},
    {"portal_owned_fields": ["job_title"]},
]


@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults"
)
def test_the_policy_preview_equals_the_run(mapped, directory, sync, policy):
    people = [add_person(directory, n) for n in range(1, 7)]
    directory.add_group(GROUP, *people[:4])
    sync(mapped)
    directory.remove(people[0])
    directory.update(people[1], mail="renamed@contoso.com", jobTitle="Renamed")
    directory.update(people[2], assignedLicenses=[], jobTitle="Unlicensed")
    directory.update(people[5], jobTitle="Changed")
    Contact.objects.filter(email="p4@contoso.com").update(mobile_phone="local edit")
    sync(mapped, dry_run=True)  # the mirror now holds the directory's state; nothing written
    if policy.get("scope_groups"):
        from integrations.policies.scope import refresh_scope_members

        refresh_scope_members(mapped, directory, groups=policy["scope_groups"])

    preview = plan_for_connection(mapped, policy=policy)
    set_policy(mapped, **policy)
    run = sync(mapped)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.created, run.updated, run.skipped) == (len(preview.creates), preview.updated, preview.skipped)
    written = sorted(
        (c.contact_email, c.field, "" if c.field == "created" else c.new_value)
        for c in FieldChange.objects.filter(run=run)
    )
    planned = sorted(
        [(c.email, "created", "") for c in preview.creates]
        + [(u.email, ch.field, ch.new) for u in preview.updates for ch in u.changes]
    )
    assert written == planned


# -- undo puts the policies' writes back too (section 6.1 × 6.2) ------------------------------
def test_undoing_a_run_reactivates_what_it_deactivated_and_renames_back(mapped, directory, sync):
    from integrations.services.undo import execute_undo, undo_start

    set_policy(mapped, leavers="deactivate", identity="object")
    gone = add_person(directory, 1)
    renamed = add_person(directory, 2)
    sync(mapped)
    directory.remove(gone)
    directory.update(renamed, mail="renamed@contoso.com")
    run = sync(mapped)
    assert sorted(Contact.objects.values_list("email", "is_active")) == [
        ("p1@contoso.com", False),
        ("renamed@contoso.com", True),
    ]

    undo = execute_undo(undo_start(run=run, requested_by=None, hand_to_worker=False))

    assert undo.status == SyncRun.Status.SUCCEEDED
    assert sorted(Contact.objects.values_list("email", "is_active")) == [
        ("p1@contoso.com", True),
        ("p2@contoso.com", True),
    ]
    assert sorted(FieldChange.objects.filter(run=undo).values_list("field", "old_value", "new_value")) == [
        ("email", "renamed@contoso.com", "p2@contoso.com"),
        ("is_active", "False", "True"),
    ]
