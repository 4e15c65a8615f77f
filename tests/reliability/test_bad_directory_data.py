"""Item 6: bad directory data, through the production Graph client (Microsoft
on `responses`) and the whole sync, on PostgreSQL and on SQLite.

Records with NUL bytes, values beyond the column sizes, invalid and
case-variant duplicate emails, NFC and NFD spellings, emoji, zero-width and
bidi characters, missing or non-string ids, wrong types: the run succeeds,
keeps what can be kept and notes each record it changed or dropped. A page
that is itself unusable (`value` not a list, a next link to a foreign host,
not JSON) fails the run cleanly: nothing applied, delta position kept, a
backoff scheduled, and the token never sent anywhere but Graph.
"""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone

from integrations.models import AzureConnection, DirectoryUser, FieldChange, Health, SiteMapping, SyncRun
from integrations.sync.runner import run_sync
from portal.customers.models import Contact, Site
from tests.integrations.graph_helpers import GRAPH, TENANT, graph_user
from tests.reliability.figures import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("entra")]

NFC = unicodedata.normalize("NFC", "José")
NFD = unicodedata.normalize("NFD", "José")
ZWSP, RLO, PDF, RLM = "\u200b", "\u202e", "\u202c", "\u200f"


class DeltaPages:
    """Graph answering from lists of pages: the full pass (round 0: the delta baseline,
    then `/users`), then each delta round of `/users/delta`."""

    def __init__(self, microsoft) -> None:
        self.rounds: list[list[object]] = []
        self.requests: list[str] = []
        for url in (f"{GRAPH}/users/delta", f"{GRAPH}/users"):
            microsoft.rsps.remove(responses.GET, url)
            microsoft.rsps.add_callback(responses.GET, url, callback=self._answer)

    def add_round(self, *pages: object) -> None:
        """Pages of one round; dict pages get their next/delta links unless they carry their own."""
        number = len(self.rounds)
        linked = []
        for index, page in enumerate(pages):
            if isinstance(page, dict) and not any(key.startswith("@odata.") for key in page):
                last = index == len(pages) - 1
                link = (
                    f"{GRAPH}/users/delta?$deltatoken=round{number + 1}"
                    if last
                    else f"{GRAPH}/users/delta?$skiptoken=r{number}p{index + 1}"
                )
                page = {**page, ("@odata.deltaLink" if last else "@odata.nextLink"): link}
            linked.append(page)
        self.rounds.append(linked)

    def _answer(self, request):
        self.requests.append(request.url)
        query = parse_qs(urlsplit(request.url).query)
        if query.get("$deltaToken") == ["latest"]:  # the full pass's baseline: no users
            body = {"value": [], "@odata.deltaLink": f"{GRAPH}/users/delta?$deltatoken=round1"}
            return 200, {"Content-Type": "application/json"}, json.dumps(body)
        if "$skiptoken" in query:
            round_number, page = query["$skiptoken"][0][1:].split("p")
            body = self.rounds[int(round_number)][int(page)]
        else:
            round_number = int(query["$deltatoken"][0].removeprefix("round")) if "$deltatoken" in query else 0
            body = self.rounds[round_number][0]
        text = body if isinstance(body, str) else json.dumps(body)
        return 200, {"Content-Type": "application/json"}, text


@pytest.fixture
def graph(microsoft) -> DeltaPages:
    return DeltaPages(microsoft)


@pytest.fixture
def connection(customer) -> AzureConnection:
    connection = AzureConnection.objects.create(customer=customer, tenant_id=TENANT, tenant_name="Contoso")
    site = Site.objects.create(customer=customer, name="Milan")
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    return connection


def person(n: int, **overrides) -> dict:
    return graph_user(n, userPrincipalName=f"upn{n}@contoso.onmicrosoft.com", **overrides)


BAD_RECORDS = [
    person(1, givenName="Nu\x00ll", mail="nul@contoso.com"),
    person(2, givenName="G" * 200, jobTitle="T" * 300, surname="S" * 65, mail="long@contoso.com"),
    person(3, mobilePhone="+39" + "0" * 100, mail="phone@contoso.com", displayName="D" * 400),
    person(4, mail="not-an-email"),
    person(5, mail="no-dot@localhost"),
    person(6, mail="with space@contoso.com"),
    person(7, mail=("x" * 300) + "@contoso.com"),
    person(8, mail="Dup@Contoso.com"),
    person(9, mail="dup@contoso.COM"),
    person(10, givenName=NFC, surname=NFD, mail="nfc@contoso.com"),
    person(
        11,
        givenName="Ada 🚀",
        jobTitle="Chief Happiness Officer 🎉",
        surname="🚀" * 70,
        mail="emoji@contoso.com",
    ),
    person(
        12, givenName=f"Ada{ZWSP}", surname=f"{RLO}ecalevoL{PDF}", jobTitle=f"{RLM}CTO", mail="zw@contoso.com"
    ),
    person(13, officeLocation="  milan hq  ", mail="spaces@contoso.com"),
    person(14, officeLocation="M" * 200, mail="longoffice@contoso.com"),
    {k: v for k, v in person(15, mail="noid@contoso.com").items() if k != "id"},
    person(16, id=12345, mail="numericid@contoso.com"),
    person(17, id="", mail="emptyid@contoso.com"),
    "not an object",
    None,
    person(18, accountEnabled="yes", mail="boolstring@contoso.com"),
    person(19, assignedLicenses={"skuId": "x"}, mail="licdict@contoso.com"),
    person(20, mail=42),
    {"id": "00000000-0000-4000-8000-000000000021", **dict.fromkeys(("givenName", "surname", "mail"))},
    person(22, mail="ok@contoso.com"),
]
DROPPED_IDS = 8  # records without a usable id, not objects, or with a wrong type


def test_bad_records_are_cleaned_or_dropped_with_notes_and_the_run_succeeds(connection, graph):
    graph.add_round({"value": BAD_RECORDS[:12]}, {"value": BAD_RECORDS[12:]})

    run = run_sync(connection, trigger=SyncRun.Trigger.INITIAL)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    contacts = {c.email: c for c in Contact.objects.filter(customer=connection.customer)}
    assert contacts["nul@contoso.com"].first_name == "Null"
    long = contacts["long@contoso.com"]
    assert (len(long.first_name), len(long.last_name), len(long.job_title)) == (64, 64, 128)
    assert len(contacts["phone@contoso.com"].mobile_phone) == 64
    assert not {"not-an-email", "no-dot@localhost", "with space@contoso.com"} & set(contacts)
    assert [email for email in contacts if email.lower() == "dup@contoso.com"] == ["Dup@Contoso.com"]
    nfc = contacts["nfc@contoso.com"]
    assert (nfc.first_name, nfc.last_name) == (NFC, NFD)  # stored exactly as Entra sent them
    emoji = contacts["emoji@contoso.com"]
    assert (emoji.first_name, emoji.job_title, emoji.last_name) == (
        "Ada 🚀",
        "Chief Happiness Officer 🎉",
        "🚀" * 64,
    )
    zero_width = contacts["zw@contoso.com"]
    assert (zero_width.first_name, zero_width.last_name) == (f"Ada{ZWSP}", f"{RLO}ecalevoL{PDF}")
    assert "spaces@contoso.com" in contacts
    assert "longoffice@contoso.com" not in contacts  # unmapped office (shortened, not Milan HQ)
    assert "ok@contoso.com" in contacts
    for dropped in ("noid", "numericid", "emptyid", "boolstring", "licdict"):
        assert f"{dropped}@contoso.com" not in contacts
    assert run.skipped_by_reason["invalid_email"] == 4
    assert run.skipped_by_reason["duplicate_email"] == 1
    assert run.skipped_by_reason["no_email"] == 1
    notes = "\n".join(run.warning_texts)
    for expected in (
        "NUL byte",
        "longer than 64",
        "longer than 128",
        "no string id",
        "not a JSON object",
        "not a boolean",
        "not a list",
        "not a string",
    ):
        assert expected in notes, (expected, run.warning_texts)
    assert DirectoryUser.objects.filter(connection=connection).count() == len(BAD_RECORDS) - DROPPED_IDS

    # The same directory again, as a delta round with the same records: nothing flips.
    graph.add_round({"value": BAD_RECORDS})
    again = run_sync(connection, trigger=SyncRun.Trigger.MANUAL)
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    assert (again.created, again.updated, again.fields_changed) == (0, 0, 0)
    record(
        "bad_directory_data",
        records=len(BAD_RECORDS),
        imported=len(contacts),
        cleaned_with_note=sum(1 for w in run.warning_texts if "removed" in w or "shortened" in w),
        dropped_with_note=DROPPED_IDS,
        skipped=run.skipped,
        runs_succeeded=2,
    )


def test_a_user_sent_twice_in_one_page_is_stored_once(connection, graph):
    """Graph may return an object more than once within a delta round."""
    graph.add_round({"value": [person(1, jobTitle="First"), person(2), person(1, jobTitle="Second")]})

    run = run_sync(connection, trigger=SyncRun.Trigger.INITIAL)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Contact.objects.get(email="user1@contoso.com").job_title == "Second"


def test_emails_with_invisible_or_bidi_characters_are_skipped_as_invalid(connection, graph):
    graph.add_round(
        {
            "value": [
                person(1, mail=f"ada{ZWSP}@contoso.com"),
                person(2, mail=f"{RLO}moc.osotnoc@ada"),
                person(3, mail="tab\t@contoso.com"),
                person(4, mail=f"bell{chr(7)}@contoso.com"),
                person(5, mail="ada@contoso.com"),
            ]
        }
    )

    run = run_sync(connection, trigger=SyncRun.Trigger.INITIAL)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert list(Contact.objects.values_list("email", flat=True)) == ["ada@contoso.com"]
    assert run.skipped_by_reason.get("invalid_email") == 4


def test_emails_differing_only_in_unicode_normalization_are_one_contact(connection, graph):
    domain_nfc = unicodedata.normalize("NFC", "café.example")
    domain_nfd = unicodedata.normalize("NFD", "café.example")
    graph.add_round({"value": [person(1, mail=f"ana@{domain_nfc}"), person(2, mail=f"ana@{domain_nfd}")]})

    run = run_sync(connection, trigger=SyncRun.Trigger.INITIAL)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Contact.objects.count() == 1
    assert run.skipped_by_reason.get("duplicate_email") == 1


UNUSABLE_PAGES = {
    "value is an object": {"value": {"id": "x"}},
    "value is a string": {"value": "users"},
    "value is null": {"value": None},
    "value is missing": {"@odata.context": "x"},
    "not JSON": "<html>Service Unavailable</html>",
    "a JSON list": "[]",
    "next link to a foreign host": {
        "value": [person(30)],
        "@odata.nextLink": "https://graph.evil.example/v1.0/users/delta?$skiptoken=steal",
    },
    "next link over plain HTTP": {
        "value": [person(30)],
        "@odata.nextLink": "http://graph.microsoft.com/v1.0/users/delta?$skiptoken=x",
    },
    "delta link to a foreign host": {
        "value": [person(30)],
        "@odata.deltaLink": "https://graph.microsoft.com.evil.example/v1.0/users/delta?$deltatoken=x",
    },
    "both links": {
        "value": [],
        "@odata.nextLink": f"{GRAPH}/users/delta?$skiptoken=r0p1",
        "@odata.deltaLink": f"{GRAPH}/users/delta?$deltatoken=round1",
    },
    "no link at all": {"value": [person(31)], "@odata.context": "x"},
}


@pytest.mark.parametrize("case", list(UNUSABLE_PAGES))
def test_an_unusable_page_fails_the_run_cleanly(case, connection, graph, microsoft):
    graph.add_round({"value": [person(1, mail="ada@contoso.com")]})
    assert run_sync(connection, trigger=SyncRun.Trigger.INITIAL).status == SyncRun.Status.SUCCEEDED
    connection.refresh_from_db()
    delta_link, contacts, audit = connection.delta_link, Contact.objects.count(), FieldChange.objects.count()
    # The next round: a good page with a change, then the unusable one.
    graph.add_round({"value": [person(1, mail="ada@contoso.com", jobTitle="Changed")]}, UNUSABLE_PAGES[case])

    run = run_sync(connection, trigger=SyncRun.Trigger.SCHEDULED)

    assert run.status == SyncRun.Status.FAILED, case
    assert run.error_kind == "malformed_response", (case, run.error_kind, run.error)
    assert "Bearer" not in run.error and "eyJ" not in run.error
    connection.refresh_from_db()
    assert connection.delta_link == delta_link  # the round is read again next time
    assert (Contact.objects.count(), FieldChange.objects.count()) == (contacts, audit)
    assert Contact.objects.get(email="ada@contoso.com").job_title == "Engineer"
    assert connection.health == Health.BACKING_OFF and connection.next_sync_at > timezone.now()
    assert connection.lease_token is None
    foreign = [
        call.request.url
        for call in microsoft.rsps.calls
        if not call.request.url.startswith(("https://login.microsoftonline.com", GRAPH))
    ]
    assert not foreign, foreign  # the token went nowhere else
    record("unusable_page", case=case, failed_cleanly=True)
