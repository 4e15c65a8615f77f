"""The sync's fast write paths give the same rows as the general ones (design.md §8).

A first full pass COPYs its pages straight into the mirror, new contacts are
COPYed with ids taken from the sequence first, and a page's transaction
commits without waiting for the disk: each falls back, or stays confined, so
that nothing differs from the merge it replaces.
"""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.directory_fields import ContactCreate
from integrations.graph.client import _parse_user_checked, parse_user
from integrations.graph.models import GraphUser
from integrations.models import DirectoryUser
from integrations.sync import bulk
from integrations.sync.mirror import write_page
from portal.customers.models import Contact
from tests.integrations.statements import statements

pytestmark = pytest.mark.django_db

FULL = frozenset(
    {
        "object_id",
        "display_name",
        "given_name",
        "surname",
        "job_title",
        "mobile_phone",
        "mail",
        "user_principal_name",
        "office_location",
        "department",
        "account_enabled",
        "user_type",
        "has_license",
    }
)


def no_lease() -> None:
    """A page written outside a run: no lease to check."""


def user(object_id: str, **values) -> GraphUser:
    return GraphUser(object_id=object_id, present=FULL, **values)


def postgres_only() -> None:
    if db_connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL write path")


# -- the mirror --------------------------------------------------------------------------
def test_a_first_full_pass_copies_its_pages_into_the_mirror(connection):
    postgres_only()
    page = [user(f"u{n}", mail=f"u{n}@contoso.com", job_title="Engineer") for n in range(5)]

    with statements() as sql:
        write_page(connection, page, seen_at=timezone.now(), full_pass=True, guard=no_lease)

    assert any(s.startswith("COPY integrations_directoryuser") for s in sql)
    assert not any(s.startswith("INSERT INTO integrations_directoryuser") for s in sql)
    assert sorted(DirectoryUser.objects.values_list("object_id", "job_title", "purpose", "removed")) == [
        (f"u{n}", "Engineer", "", False) for n in range(5)
    ]


def test_a_first_full_pass_merges_a_page_whose_user_is_already_mirrored(connection):
    # A pass read again after an interruption: its first pages are in the mirror already.
    DirectoryUser.objects.create(
        connection=connection, object_id="u1", job_title="Old", account_enabled=False, purpose="shared"
    )
    DirectoryUser.objects.create(connection=connection, object_id="u9", job_title="Kept", purpose="room")
    page = [user("u1", job_title="New", account_enabled=True), user("u2", job_title="Fresh")]

    write_page(connection, page, seen_at=timezone.now(), full_pass=True, guard=no_lease)

    assert sorted(
        DirectoryUser.objects.values_list("object_id", "job_title", "account_enabled", "purpose")
    ) == [
        ("u1", "New", True, ""),  # enabled since: its mailbox purpose is asked again
        ("u2", "Fresh", None, ""),
        ("u9", "Kept", None, "room"),
    ]


def test_a_later_full_pass_merges_without_trying_a_copy(connection, monkeypatch):
    postgres_only()
    connection.full_pass_completed_at = timezone.now()
    DirectoryUser.objects.create(connection=connection, object_id="u1", job_title="Old")
    copied_into = []
    copy = bulk._copy
    monkeypatch.setattr(
        bulk, "_copy", lambda cursor, table, *args: copied_into.append(table) or copy(cursor, table, *args)
    )

    write_page(
        connection, [user("u1", job_title="New")], seen_at=timezone.now(), full_pass=True, guard=no_lease
    )

    assert copied_into == ["sync_mirror_page"]  # never the mirror itself: its rows exist
    assert DirectoryUser.objects.get(object_id="u1").job_title == "New"


@pytest.mark.django_db(transaction=True)
def test_a_page_commits_asynchronously_and_the_next_commit_waits_for_the_disk(connection):
    # design.md §8: the delta link, saved after the last page, commits synchronously,
    # which flushes every page before it; the page's setting must not outlive its transaction.
    postgres_only()

    with CaptureQueriesContext(db_connection) as queries:
        write_page(connection, [user("u1")], seen_at=timezone.now(), full_pass=True, guard=no_lease)

    assert any(q["sql"] == "SET LOCAL synchronous_commit = off" for q in queries)
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


# -- contacts ----------------------------------------------------------------------------
def new_contact(email: str, site_id: int) -> ContactCreate:
    return ContactCreate(
        object_id=f"oid-{email}",
        email=email,
        first_name="Anna",
        last_name="Rossi",
        job_title="Engineer",
        mobile_phone="",
        site_id=site_id,
        is_shared_mailbox=False,
        mailbox_purpose="",
    )


def test_new_contacts_come_back_with_their_own_ids(customer, site):
    rows = [new_contact(f"user{n}@contoso.com", site.pk) for n in range(4)]

    with transaction.atomic():
        inserted = bulk.insert_contacts(customer.pk, rows, now=timezone.now())

    assert sorted(inserted) == sorted(Contact.objects.values_list("id", "email"))
    assert len(inserted) == 4


def test_new_contacts_skip_one_created_in_the_portal_meanwhile(customer, site):
    Contact.objects.create(customer=customer, site=site, email="USER2@contoso.com")
    rows = [new_contact(f"user{n}@contoso.com", site.pk) for n in range(4)]

    with transaction.atomic():
        inserted = bulk.insert_contacts(customer.pk, rows, now=timezone.now())

    assert sorted(email for _, email in inserted) == [
        "user0@contoso.com",
        "user1@contoso.com",
        "user3@contoso.com",
    ]
    assert sorted(inserted) == sorted(
        Contact.objects.exclude(email="USER2@contoso.com").values_list("id", "email")
    )


# -- parsing -----------------------------------------------------------------------------
RECORDS = [
    {
        "id": "a",
        "displayName": "A",
        "mail": "a@contoso.com",
        "accountEnabled": True,
        "assignedLicenses": [{}],
    },
    {"id": "b", "givenName": None, "jobTitle": "T", "assignedLicenses": []},
    {"id": "c", "accountEnabled": None, "assignedLicenses": None, "userType": "Guest"},
    {"id": "d", "@removed": {"reason": "changed"}},
    {"id": "e", "officeLocation": "Milan", "extra": 5},
    {"id": "f", "department": 3},
    {"id": "g", "accountEnabled": "yes"},
    {"id": "h", "assignedLicenses": {"skuId": "x"}},
    {"id": "  "},
    {"id": 7},
    {"displayName": "no id"},
    ["not", "an", "object"],
    {"id": "i", "mobilePhone": ["+39"]},
    {"id": "j", "accountEnabled": 1},
    {"mail": "k@contoso.com", "id": "k", "surname": "Reordered", "accountEnabled": False},
]


@pytest.mark.parametrize("raw", RECORDS, ids=lambda raw: str(raw)[:40])
def test_a_record_parses_the_same_on_the_fast_and_the_checked_path(raw):
    assert parse_user(raw) == _parse_user_checked(raw)
