"""The plan under each connection policy (design.md §6.2), as a pure function: no database."""

from __future__ import annotations

from integrations.directory_fields import ContactState, MirrorUser
from integrations.sync.plan import PlanPolicy, SkipReason, build_plan

SITES = {"milan": 1, "rome": 2}
NAMES = {1: "Milan", 2: "Rome"}


def plan(users, contacts=(), **policy):
    return build_plan(
        users=users,
        attribute="office_location",
        site_by_value=SITES,
        contacts=contacts,
        site_names=NAMES,
        policy=PlanPolicy(**policy),
    )


def user(n: int, **fields) -> MirrorUser:
    base = {
        "object_id": f"id-{n:03d}",
        "mail": f"u{n}@contoso.com",
        "office_location": "Milan",
        "given_name": "U",
    }
    return MirrorUser(**{**base, **fields})


def contact(n: int, **fields) -> ContactState:
    base = {
        "id": n,
        "email": f"u{n}@contoso.com",
        "first_name": "U",
        "site_id": 1,
        "azure_object_id": f"id-{n:03d}",
    }
    return ContactState(**{**base, **fields})


def changes(result):
    return sorted((u.contact_id, c.field, c.old, c.new) for u in result.updates for c in u.changes)


# -- leavers --------------------------------------------------------------------------------
def test_keep_leaves_the_contact_of_a_deleted_or_disabled_user_alone():
    result = plan([user(2, account_enabled=False)], [contact(1), contact(2)])

    assert result.updates == []


def test_deactivate_deactivates_contacts_of_deleted_disabled_and_out_of_scope_users():
    users = [user(2, account_enabled=False), user(3, has_license=False), user(4)]
    contacts = [contact(1), contact(2), contact(3), contact(4)]

    result = plan(users, contacts, leavers="deactivate", licensed_only=True)

    assert changes(result) == [
        (1, "is_active", "True", "False"),
        (2, "is_active", "True", "False"),
        (3, "is_active", "True", "False"),
    ]
    assert result.deactivated == 3
    assert all(u.values == {"is_active": False} for u in result.updates)


def test_deactivate_never_touches_portal_only_contacts_or_unmapped_or_mailbox_users():
    users = [user(2, office_location="Paris"), user(3, account_enabled=False, purpose="shared")]
    contacts = [contact(1, azure_object_id=None), contact(2), contact(3, is_shared_mailbox=True)]

    result = plan(users, contacts, leavers="deactivate")

    assert changes(result) == []


def test_a_returning_user_reactivates_its_contact_under_either_leavers_policy():
    for leavers in ("keep", "deactivate"):
        result = plan([user(1)], [contact(1, is_active=False)], leavers=leavers)

        assert changes(result) == [(1, "is_active", "False", "True")]
        assert result.reactivated == 1


def test_an_inactive_contact_whose_user_is_still_gone_stays_as_it_is():
    result = plan([], [contact(1, is_active=False)], leavers="deactivate")

    assert result.updates == []


def test_a_contact_matched_by_email_is_not_deactivated_for_its_former_object():
    # The contact was linked to id-009, which left; user 1 now has its email and takes it over.
    result = plan(
        [user(1), user(9, account_enabled=False)],
        [contact(1, azure_object_id="id-009")],
        leavers="deactivate",
    )

    assert changes(result) == []
    assert result.updates[0].values == {"azure_object_id": "id-001"}


# -- identity -------------------------------------------------------------------------------
def test_email_identity_forks_on_a_rename_as_r10_says():
    result = plan([user(1, mail="renamed@contoso.com")], [contact(1)])

    assert [c.email for c in result.creates] == ["renamed@contoso.com"]
    assert result.updates == []


def test_object_identity_follows_a_rename_and_creates_nothing():
    result = plan([user(1, mail="renamed@contoso.com")], [contact(1)], identity="object")

    assert result.creates == []
    assert changes(result) == [(1, "email", "u1@contoso.com", "renamed@contoso.com")]
    assert result.updates[0].email == "renamed@contoso.com"


def test_object_identity_overwrites_a_local_email_edit_back():
    result = plan([user(1)], [contact(1, email="typo@contoso.com")], identity="object")

    assert changes(result) == [(1, "email", "typo@contoso.com", "u1@contoso.com")]


def test_object_identity_links_by_email_a_contact_not_linked_yet():
    result = plan([user(1)], [contact(1, azure_object_id=None)], identity="object")

    assert result.creates == []
    assert result.updates[0].values == {"azure_object_id": "id-001"}


def test_two_objects_never_claim_one_contact():
    # Contact 1 follows id-001 (renamed); user 2 now has contact 1's old email.
    users = [user(1, mail="renamed@contoso.com"), user(2, mail="u1@contoso.com")]

    result = plan(users, [contact(1)], identity="object")

    assert changes(result) == [(1, "email", "u1@contoso.com", "renamed@contoso.com")]
    assert result.creates == []
    assert result.skips == {SkipReason.EMAIL_HELD: 1}


def test_a_rename_onto_an_email_another_contact_holds_keeps_the_old_email():
    result = plan(
        [user(1, mail="taken@contoso.com")],
        [contact(1), contact(2, email="taken@contoso.com", azure_object_id=None)],
        identity="object",
    )

    assert changes(result) == []
    assert result.email_conflicts == ["taken@contoso.com"]


def test_object_identity_picks_the_fork_with_the_directory_email():
    forks = [
        contact(1, email="edited@contoso.com", first_name="Old"),
        contact(2, email="u1@contoso.com", first_name="Old"),
    ]

    result = plan([user(1)], [*forks[:1], forks[1]._replace(azure_object_id="id-001")], identity="object")

    assert changes(result) == [(2, "first_name", "Old", "U")]


# -- scope ----------------------------------------------------------------------------------
def test_group_scope_skips_users_outside_the_groups_with_their_own_reason():
    result = plan([user(1), user(2)], scope_members=frozenset({"id-001"}))

    assert [c.email for c in result.creates] == ["u1@contoso.com"]
    assert result.skips == {SkipReason.NOT_IN_SCOPE_GROUPS: 1}


def test_licensed_only_skips_unlicensed_users_but_not_unknown_ones():
    result = plan(
        [user(1, has_license=True), user(2, has_license=False), user(3, has_license=None)], licensed_only=True
    )

    assert sorted(c.email for c in result.creates) == ["u1@contoso.com", "u3@contoso.com"]
    assert result.skips == {SkipReason.UNLICENSED: 1}


def test_guests_and_disabled_users_keep_their_reasons_under_a_scope():
    result = plan(
        [user(1, user_type="Guest"), user(2, account_enabled=False)],
        licensed_only=True,
        scope_members=frozenset(),
    )

    assert result.skips == {SkipReason.GUEST: 1, SkipReason.DISABLED: 1}


# -- field ownership ------------------------------------------------------------------------
def test_portal_owned_fields_are_never_written_not_even_on_create():
    result = plan(
        [user(1, job_title="Dir", mobile_phone="+1"), user(2, job_title="Dir", mobile_phone="+2")],
        [contact(1, job_title="Local", mobile_phone="+9")],
        portal_owned=frozenset({"mobile_phone"}),
    )

    assert changes(result) == [(1, "job_title", "Local", "Dir")]
    assert result.creates[0].mobile_phone == ""
    assert result.creates[0].job_title == "Dir"
    assert "mobile_phone" not in result.updates[0].values


def test_a_pinned_field_is_left_and_its_divergence_noted():
    result = plan(
        [user(1, job_title="Dir", office_location="Rome")],
        [contact(1, job_title="Local")],
        pinned={1: frozenset({"job_title", "site"})},
    )

    assert result.updates == []
    assert result.unchanged == 1
    assert sorted((d.field, d.local, d.directory) for d in result.divergences) == [
        ("job_title", "Local", "Dir"),
        ("site", "Milan", "Rome"),
    ]


def test_defaults_are_the_seed_policy():
    assert PlanPolicy().is_default
    assert not PlanPolicy(leavers="deactivate").is_default
