"""The plan as a pure function: plain values in, changes out, no database."""

from __future__ import annotations

import unicodedata

from integrations.directory_fields import ContactState, MirrorUser
from integrations.sync.plan import build_plan, is_mailbox, user_email

SITES = {"milan": 1, "rome": 2}
NAMES = {1: "Milan", 2: "Rome"}


def plan(users, contacts=()):
    return build_plan(
        users=users, attribute="office_location", site_by_value=SITES, contacts=contacts, site_names=NAMES
    )


def user(n: int, **fields) -> MirrorUser:
    base = {
        "object_id": f"id-{n:03d}",
        "mail": f"u{n}@contoso.com",
        "office_location": "Milan",
        "given_name": "U",
    }
    return MirrorUser(**{**base, **fields})


def test_email_is_mail_then_upn_but_never_a_guest_ext_name():
    assert user_email(user(1, mail=" A@x.com ")) == "A@x.com"
    assert user_email(user(1, mail="", user_principal_name="b@x.com")) == "b@x.com"
    assert user_email(user(1, mail="", user_principal_name="b_x.com#EXT#@t.onmicrosoft.com")) == ""


def test_mailbox_purpose_wins_over_the_shape_heuristic():
    assert is_mailbox(user(1, account_enabled=False, purpose="room"))
    assert not is_mailbox(user(1, account_enabled=False, purpose="user", has_license=False))
    assert is_mailbox(user(1, account_enabled=False, purpose="", has_license=False))
    assert not is_mailbox(user(1, account_enabled=False, purpose="", has_license=True))
    assert not is_mailbox(user(1, account_enabled=True, purpose="", has_license=False))


def test_new_users_become_creates_with_their_site():
    result = plan([user(1), user(2, office_location=" ROME ")])

    assert [(c.email, c.site_id) for c in result.creates] == [("u1@contoso.com", 1), ("u2@contoso.com", 2)]


def test_matched_contact_gets_every_differing_field_and_only_those():
    contact = ContactState(id=7, email="U1@CONTOSO.COM", first_name="U", job_title="Old", site_id=2)

    result = plan([user(1, job_title="New")], [contact])

    (update,) = result.updates
    assert [(c.field, c.old, c.new) for c in update.changes] == [
        ("job_title", "Old", "New"),
        ("site", "Rome", "Milan"),
    ]
    assert update.values == {"job_title": "New", "site_id": 1, "azure_object_id": "id-001"}


def test_a_contact_equal_in_every_field_is_unchanged():
    contact = ContactState(id=7, email="u1@contoso.com", first_name="U", site_id=1, azure_object_id="id-001")

    result = plan([user(1)], [contact])

    assert (result.updates, result.unchanged, result.creates) == ([], 1, [])


def test_duplicate_email_winner_is_independent_of_input_order():
    a = user(5, mail="x@contoso.com", job_title="five")
    b = user(3, mail="X@contoso.com", job_title="three")
    c = user(1, mail="x@contoso.com", job_title="disabled box", account_enabled=False, purpose="shared")

    for users in ([a, b, c], [c, b, a], [b, c, a]):
        result = plan(users)
        assert [cr.job_title for cr in result.creates] == ["three"]
        assert result.skips == {"duplicate_email": 2}


def test_contacts_sharing_an_email_key_match_the_oldest_whatever_order_they_are_read_in():
    # Composed and decomposed accents spell one email (R6): only one contact may follow the user,
    # and the same one every run, or runs would overwrite each other's writes.
    composed = unicodedata.normalize("NFC", "josé@contoso.com")
    decomposed = unicodedata.normalize("NFD", "josé@contoso.com")
    oldest = ContactState(id=4, email=decomposed, first_name="U", job_title="Old", site_id=1)
    newer = ContactState(id=9, email=composed, first_name="U", job_title="Old", site_id=1)

    for contacts in ([oldest, newer], [newer, oldest]):
        result = plan([user(1, mail=composed, job_title="New")], contacts)

        assert [u.contact_id for u in result.updates] == [4]
        assert result.creates == []


def test_invalid_emails_are_skipped_not_imported():
    result = plan([user(1, mail="not-an-email"), user(2, mail="a" * 250 + "@x.com")])

    assert result.creates == []
    assert result.skips == {"invalid_email": 2}
