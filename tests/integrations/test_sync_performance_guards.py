"""What keeps the sync fast, and what speed must never cost.

Fast: queries grow with pages and batches, never with users; a re-sync with
nothing to do writes nothing; pages are read ahead in a bounded way. Never
at the cost of: a re-sync still reconciling every change made on the portal
side (the plan reads the whole mirror, unless none of its inputs changed since
a plan that had nothing to write: test_plan_memo.py), exactly one audit row per
written field in the same transaction as the write, the lease re-checked in
every write transaction.
"""

from __future__ import annotations

import gc
import threading
import time

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from integrations.directory_fields import ContactState, MirrorUser
from integrations.graph.models import GraphUser
from integrations.graph.prefetch import prefetched, prefetched_together
from integrations.lease import LeaseLost
from integrations.models import (
    AzureConnection,
    DirectoryUser,
    FieldChange,
    MappingAttribute,
    SiteMapping,
    SyncRun,
)
from integrations.sync import apply as apply_module
from integrations.sync import bulk, collector, loaders
from integrations.sync.apply import apply_plan
from integrations.sync.classify import classify_disabled_users
from integrations.sync.mirror import write_page
from integrations.sync.plan import build_plan
from integrations.sync.runner import plan_for_connection
from portal.customers.models import Contact, Customer, Site
from tests.integrations.fakes import FakeDirectory
from tests.integrations.statements import statements
from tests.integrations.test_sync_rules import add_person

pytestmark = pytest.mark.django_db

WRITES = ("INSERT INTO", "UPDATE ", "DELETE FROM", "COPY ")
SYNCED_TABLES = ("customers_contact", "integrations_fieldchange", "integrations_directoryuser")


def no_lease() -> None:
    """A page written outside a run: no lease to check."""


def fill(directory: FakeDirectory, count: int, start: int = 0) -> list[str]:
    offices = ("Milan HQ", "Rome")
    return [
        add_person(
            directory,
            mail=f"user{n}@contoso.com",
            givenName=f"Given{n}",
            jobTitle=f"Title {n % 5}",
            officeLocation=offices[n % 2],
        )
        for n in range(start, start + count)
    ]


def writes_to_synced_tables(sent: list[str]) -> list[str]:
    return [
        sql
        for sql in sent
        if sql.lstrip().upper().startswith(WRITES) and any(t in sql for t in SYNCED_TABLES)
    ]


def new_run(connection) -> SyncRun:
    return SyncRun.objects.create(
        customer_id=connection.customer_id, connection=connection, trigger="manual", status="running"
    )


class HeldLease:
    """A lease that holds until `lose_after` renewals."""

    def __init__(self, lose_after: int | None = None) -> None:
        self.renewals = 0
        self.lose_after = lose_after

    def renew(self) -> None:
        self.renewals += 1
        if self.lose_after is not None and self.renewals > self.lose_after:
            raise LeaseLost("taken over")


# -- queries grow with pages, not users ------------------------------------------------
def test_queries_grow_with_pages_and_batches_not_with_users(mapped, monkeypatch):
    monkeypatch.setattr(apply_module, "BATCH_SIZE", 400)
    counts = {}
    for users in (800, 1600):
        directory = FakeDirectory(page_size=200)
        fill(directory, users)
        Contact.objects.all().delete()
        DirectoryUser.objects.all().delete()
        mapped.delta_link = ""
        mapped.save()
        with statements() as sent:
            run = _sync_with(mapped, directory)
        assert run.created == users
        counts[users] = len(sent)

    # 4 more pages and 2 more apply batches: a bounded number of statements each.
    assert counts[1600] - counts[800] <= 4 * 10 + 2 * 8, counts


def _sync_with(connection, directory: FakeDirectory) -> SyncRun:
    from integrations.sync.runner import run_sync

    connection.refresh_from_db()
    return run_sync(connection, trigger="manual", client_factory=directory)


def test_a_resync_with_nothing_to_do_writes_nothing_to_the_synced_tables(mapped, directory, sync):
    fill(directory, 300)
    sync(mapped)

    with statements() as sent:
        run = sync(mapped)

    assert (run.created, run.updated, run.unchanged, run.fields_changed) == (0, 0, 300, 0)
    assert writes_to_synced_tables(sent) == []
    assert len(sent) < 30


def test_the_statement_count_sees_the_copies_and_the_streamed_reads(mapped, directory, sync):
    fill(directory, 50)

    with statements() as sent:
        sync(mapped)

    writes = writes_to_synced_tables(sent)
    reads = [sql for sql in sent if "FROM integrations_directoryuser" in sql and "removed = %s" in sql]
    assert reads, "the plan's read of the mirror was not counted"
    if db_connection.vendor == "postgresql":  # the writes are COPYs, which Django does not see
        assert any(sql.startswith("COPY integrations_fieldchange") for sql in writes), writes
    else:
        assert any(sql.startswith("INSERT INTO customers_contact") for sql in writes), writes


def test_a_one_percent_change_writes_only_the_changed_contacts(mapped, directory, sync):
    ids = fill(directory, 400)
    sync(mapped)
    for user_id in ids[:4]:
        directory.update(user_id, jobTitle="Changed")

    run = sync(mapped)

    assert (run.updated, run.fields_changed, run.unchanged) == (4, 4, 396)
    assert set(FieldChange.objects.filter(run=run).values_list("field", "new_value")) == {
        ("job_title", "Changed")
    }
    assert Contact.objects.filter(job_title="Changed").count() == 4


# -- a re-sync without directory changes still sees every portal-side change -------------
def test_a_resync_without_directory_changes_still_overwrites_local_edits(mapped, directory, sync):
    fill(directory, 10)
    sync(mapped)
    Contact.objects.filter(email="user3@contoso.com").update(job_title="Edited", first_name="Eddie")

    run = sync(mapped)

    assert run.fetched == 0
    contact = Contact.objects.get(email="user3@contoso.com")
    assert (contact.job_title, contact.first_name) == ("Title 3", "Given3")
    assert sorted(FieldChange.objects.filter(run=run).values_list("field", "old_value")) == [
        ("first_name", "Eddie"),
        ("job_title", "Edited"),
    ]


def test_a_resync_without_directory_changes_recreates_a_contact_deleted_in_the_portal(
    mapped, directory, sync
):
    fill(directory, 10)
    sync(mapped)
    Contact.objects.filter(email="user4@contoso.com").delete()

    run = sync(mapped)

    assert run.fetched == 0 and run.created == 1
    assert Contact.objects.filter(email="user4@contoso.com").exists()
    assert FieldChange.objects.get(run=run).field == "created"


def test_a_resync_without_directory_changes_applies_a_mapping_change(mapped, directory, sync, milan):
    fill(directory, 10)
    sync(mapped)
    SiteMapping.objects.filter(connection=mapped, value="Rome").update(site=milan)

    run = sync(mapped)

    assert run.fetched == 0 and run.updated == 5
    assert set(Contact.objects.values_list("site__name", flat=True)) == {"Milan"}
    assert set(FieldChange.objects.filter(run=run).values_list("field", "old_value", "new_value")) == {
        ("site", "Rome", "Milan")
    }


def test_a_resync_without_directory_changes_applies_a_new_mapping_attribute(
    mapped, directory, sync, milan, rome
):
    for n in range(4):
        add_person(directory, mail=f"d{n}@contoso.com", officeLocation="Milan HQ", department="Sales")
    sync(mapped)
    AzureConnection.objects.filter(pk=mapped.pk).update(mapping_attribute=MappingAttribute.DEPARTMENT)
    SiteMapping.objects.filter(connection=mapped).delete()
    SiteMapping.objects.create(connection=mapped, value="sales", site=rome)

    run = sync(mapped)

    assert run.fetched == 0 and run.updated == 4
    assert set(Contact.objects.values_list("site__name", flat=True)) == {"Rome"}


def test_a_resync_without_directory_changes_sees_a_deleted_site(mapped, directory, sync, rome):
    fill(directory, 10)
    sync(mapped)

    rome.delete()  # its mapping goes with it; its contacts keep existing, without a site
    run = sync(mapped)

    assert run.fetched == 0
    assert run.skipped_by_reason == {"unmapped_site_value": 5}
    assert (run.created, run.updated, run.fields_changed) == (0, 0, 0)
    assert Contact.objects.filter(site=None).count() == 5
    assert Contact.objects.count() == 10


# -- the apply: audit and data together, the lease in every transaction ----------------
def _plan(connection):
    return plan_for_connection(connection)


def test_an_update_writes_only_its_changed_fields_not_what_the_portal_changed_meanwhile(
    mapped, directory, sync
):
    user_id = add_person(directory, jobTitle="Analyst", mobilePhone="+39 1")
    sync(mapped)
    directory.update(user_id, jobTitle="Lead")
    sync(mapped, dry_run=True)  # reads the change into the mirror
    plan = _plan(mapped)
    Contact.objects.update(mobile_phone="+39 typed in the portal")

    result = apply_plan(plan, run=new_run(mapped), lease=HeldLease())

    contact = Contact.objects.get()
    assert (contact.job_title, contact.mobile_phone) == ("Lead", "+39 typed in the portal")
    assert (result.updated, result.field_changes) == (1, 1)


def test_a_contact_deleted_between_plan_and_apply_gets_no_audit_row(mapped, directory, sync):
    ids = fill(directory, 3)
    sync(mapped)
    for user_id in ids:
        directory.update(user_id, jobTitle="New")
    sync(mapped, dry_run=True)
    plan = _plan(mapped)
    Contact.objects.filter(email="user1@contoso.com").delete()
    run = new_run(mapped)

    result = apply_plan(plan, run=run, lease=HeldLease())

    assert (result.updated, result.field_changes) == (2, 2)
    assert sorted(FieldChange.objects.filter(run=run).values_list("contact_email", flat=True)) == [
        "user0@contoso.com",
        "user2@contoso.com",
    ]


def test_a_contact_created_in_the_portal_between_plan_and_apply_is_left_for_the_next_run(
    mapped, directory, customer
):
    fill(directory, 3)
    _sync_with(mapped, directory)
    Contact.objects.all().delete()
    plan = _plan(mapped)
    Contact.objects.create(customer=customer, email="USER1@contoso.com", first_name="Typed")
    run = new_run(mapped)

    result = apply_plan(plan, run=run, lease=HeldLease())

    assert result.raced == ["user1@contoso.com"]
    assert result.created == 2
    assert Contact.objects.get(email="USER1@contoso.com").first_name == "Typed"
    assert FieldChange.objects.filter(run=run).count() == 2


def test_a_failure_while_auditing_an_update_rolls_its_writes_back(mapped, directory, sync, monkeypatch):
    ids = fill(directory, 4)
    sync(mapped)
    for user_id in ids:
        directory.update(user_id, jobTitle="New")
    sync(mapped, dry_run=True)
    plan = _plan(mapped)

    def broken(**kwargs):
        raise RuntimeError("the audit insert failed")

    monkeypatch.setattr(bulk, "insert_field_changes", broken)
    with pytest.raises(RuntimeError):
        apply_plan(plan, run=new_run(mapped), lease=HeldLease())

    assert not Contact.objects.filter(job_title="New").exists()  # no write without its audit row


def test_created_contacts_audit_values_are_built_while_their_copy_streams(mapped, directory, monkeypatch):
    """PostgreSQL stores the audit rows already sent while the worker builds the next ones."""
    if db_connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL write path (COPY)")
    events: list[str] = []
    copy, initial_values = bulk._copy, apply_module._initial_values

    def logged_copy(cursor, table, columns, rows):
        events.append(f"COPY {table}")
        return copy(cursor, table, columns, rows)

    def logged_initial_values(create, site_names):
        events.append("initial values")
        return initial_values(create, site_names)

    monkeypatch.setattr(bulk, "_copy", logged_copy)
    monkeypatch.setattr(apply_module, "_initial_values", logged_initial_values)
    fill(directory, 3)

    run = _sync_with(mapped, directory)

    assert run.created == 3
    copies = [n for n, event in enumerate(events) if event == f"COPY {bulk.AUDIT}"]
    assert len(copies) == 1
    assert events[copies[0] :] == [f"COPY {bulk.AUDIT}", *["initial values"] * 3]
    assert FieldChange.objects.filter(run=run, field=FieldChange.CREATED).count() == 3


def test_the_lease_is_checked_in_every_apply_transaction(mapped, directory):
    fill(directory, 10)
    _sync_with(mapped, directory)
    Contact.objects.all().delete()
    plan = _plan(mapped)
    run = new_run(mapped)
    lease = HeldLease(lose_after=2)

    with pytest.raises(LeaseLost):
        apply_plan(plan, run=run, lease=lease, batch_size=4)

    assert lease.renewals == 3  # once per transaction, the third one found it lost
    assert Contact.objects.count() == 8
    assert FieldChange.objects.filter(run=run).count() == 8


# -- the mirror --------------------------------------------------------------------------
def test_a_page_carrying_a_user_twice_keeps_the_last_record(connection):
    first = GraphUser(object_id="dup", present=frozenset({"object_id", "job_title"}), job_title="First")
    last = GraphUser(object_id="dup", present=frozenset({"object_id", "job_title"}), job_title="Last")

    write_page(connection, [first, last], seen_at=timezone.now(), guard=no_lease)

    assert list(DirectoryUser.objects.values_list("object_id", "job_title")) == [("dup", "Last")]


def test_the_plan_reads_flags_as_booleans_on_every_database(mapped, directory, sync, customer, milan):
    add_person(
        directory, mail="info@contoso.com", accountEnabled=False, assignedLicenses=[], purpose="shared"
    )
    sync(mapped)

    (user,) = loaders.mirror_users(mapped)
    (contact,) = loaders.contact_states(customer.pk)

    assert user.account_enabled is False and user.has_license is False
    assert contact.is_shared_mailbox is True


# -- the garbage collector ---------------------------------------------------------------
class ThresholdWatchingDirectory(FakeDirectory):
    """Records the collector's thresholds while the run reads its pages."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.thresholds_seen: list[tuple[int, int, int]] = []

    def iter_user_delta(self, delta_link: str | None = None):
        self.thresholds_seen.append(gc.get_threshold())
        yield from super().iter_user_delta(delta_link)


def test_a_sync_collects_less_often_while_it_runs_and_restores_the_collector_after(mapped):
    directory = ThresholdWatchingDirectory()
    fill(directory, 5)
    before = gc.get_threshold()

    run = _sync_with(mapped, directory)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert directory.thresholds_seen == [(collector.SYNC_FIRST_GENERATION_THRESHOLD, *before[1:])]
    assert gc.get_threshold() == before


def test_a_failing_sync_restores_the_collector_too(mapped):
    directory = ThresholdWatchingDirectory(page_size=2)
    fill(directory, 5)
    directory.fail_after_pages = 1
    before = gc.get_threshold()

    run = _sync_with(mapped, directory)

    assert run.status == SyncRun.Status.FAILED
    assert directory.thresholds_seen[0][0] == collector.SYNC_FIRST_GENERATION_THRESHOLD
    assert gc.get_threshold() == before


def test_overlapping_runs_restore_the_collector_only_when_the_last_one_ends():
    before = gc.get_threshold()
    first_in, first_may_end = threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with collector.fewer_collections():
            first_in.set()
            first_may_end.wait(5)
            seen["first, after the second ended"] = gc.get_threshold()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_in.wait(5)
        with collector.fewer_collections():
            pass
        seen["between"] = gc.get_threshold()
    finally:
        first_may_end.set()
        thread.join(5)

    raised = (collector.SYNC_FIRST_GENERATION_THRESHOLD, *before[1:])
    assert seen == {"between": raised, "first, after the second ended": raised}
    assert gc.get_threshold() == before


@pytest.mark.parametrize(
    "own_threshold", [0, 200_000], ids=["automatic collection turned off", "collecting less often already"]
)
def test_a_process_with_its_own_first_generation_threshold_keeps_it_during_a_sync(own_threshold):
    before = gc.get_threshold()
    gc.set_threshold(own_threshold, *before[1:])
    try:
        with collector.fewer_collections():
            assert gc.get_threshold()[0] == own_threshold
        assert gc.get_threshold()[0] == own_threshold
    finally:
        gc.set_threshold(*before)


# -- the plan and the pipeline -----------------------------------------------------------
def test_the_plan_leaves_the_garbage_collector_as_it_found_it():
    users = [MirrorUser(object_id=f"id-{n}", mail=f"u{n}@x.com", office_location="Milan") for n in range(50)]
    kwargs = {"attribute": "office_location", "site_by_value": {"milan": 1}, "site_names": {1: "Milan"}}

    assert gc.isenabled()
    assert len(build_plan(users=users, contacts=[], **kwargs).creates) == 50
    assert gc.isenabled()
    gc.disable()
    try:
        build_plan(users=users, contacts=[ContactState(id=1, email="u1@x.com")], **kwargs)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_read_ahead_yields_every_page_in_order_and_raises_where_the_source_failed():
    def pages():
        yield from (1, 2, 3)
        raise ConnectionError("network down after page 3")

    reader = prefetched(pages())

    assert [next(reader), next(reader), next(reader)] == [1, 2, 3]
    with pytest.raises(ConnectionError):
        next(reader)


def test_read_ahead_stays_one_page_ahead_and_stops_when_the_reader_stops():
    produced = []
    closed = threading.Event()

    def pages():
        try:
            for n in range(100):
                produced.append(n)
                yield n
        finally:
            closed.set()

    reader = prefetched(pages(), depth=1)
    assert next(reader) == 0
    time.sleep(0.2)
    assert len(produced) <= 3  # the page read, one waiting, one being produced
    reader.close()

    assert closed.wait(2)
    assert len(produced) <= 4


def test_items_already_waiting_are_handed_over_together_up_to_the_limit():
    batches = prefetched_together(iter(range(10)), depth=3, most=3)
    first = next(batches)  # starts the producer
    time.sleep(0.2)  # which fills the hand-over queue meanwhile

    second = next(batches)
    rest = list(batches)

    assert len(second) == 3
    assert [item for batch in [first, second, *rest] for item in batch] == list(range(10))
    assert all(1 <= len(batch) <= 3 for batch in [first, *rest])


def test_a_reader_faster_than_the_producer_gets_each_item_as_it_comes():
    def slow():
        for n in range(5):
            time.sleep(0.03)
            yield n

    assert list(prefetched_together(slow(), depth=3, most=3)) == [[0], [1], [2], [3], [4]]


def test_items_read_before_an_error_are_handed_over_before_it_is_raised():
    def pages():
        yield from (1, 2)
        raise ConnectionError("network down after page 2")

    batches = prefetched_together(pages(), depth=3, most=3)
    received = list(next(batches))  # starts the producer
    time.sleep(0.2)  # which reaches the error meanwhile

    with pytest.raises(ConnectionError):
        received.extend(item for batch in batches for item in batch)
    assert received == [1, 2]


class SlowFirstWrite:
    """`write_page` whose first call is slow, so that the pages read meanwhile wait."""

    def __init__(self, monkeypatch) -> None:
        from integrations.sync import runner

        self.sizes: list[int] = []
        self._write = runner.write_page
        monkeypatch.setattr(runner, "write_page", self)

    def __call__(self, connection, users, **kwargs):
        users = list(users)
        if not self.sizes:
            time.sleep(0.3)
        self.sizes.append(len(users))
        return self._write(connection, users, **kwargs)


def test_a_full_pass_writes_the_pages_waiting_together_and_a_delta_round_page_by_page(mapped, monkeypatch):
    from integrations.sync import runner

    directory = FakeDirectory(page_size=4)
    ids = fill(directory, 40)  # 10 pages
    writes = SlowFirstWrite(monkeypatch)

    first = _sync_with(mapped, directory)

    assert first.status == SyncRun.Status.SUCCEEDED and first.fetched == 40
    assert sum(writes.sizes) == 40 and len(writes.sizes) < 10
    assert max(writes.sizes) == 4 * runner.FULL_PASS_PAGES_TOGETHER
    assert DirectoryUser.objects.filter(connection=mapped).count() == 40

    for n, object_id in enumerate(ids[:12]):
        directory.update(object_id, jobTitle=f"Changed {n}")
    writes.sizes.clear()

    second = _sync_with(mapped, directory)

    assert second.status == SyncRun.Status.SUCCEEDED and not second.full_pass
    assert writes.sizes == [4, 4, 4]
    assert DirectoryUser.objects.filter(connection=mapped, job_title__startswith="Changed").count() == 12


def test_a_test_double_is_read_ahead_in_another_thread_as_the_graph_client_is(mapped, directory, sync):
    for n in range(6):
        add_person(directory, mail=f"p{n}@contoso.com")
    threads = []
    pages = directory.iter_user_delta

    def iter_user_delta(delta_link=None):
        for page in pages(delta_link):
            threads.append(threading.current_thread())
            yield page

    directory.iter_user_delta = iter_user_delta

    run = sync(mapped)

    assert run.status == "succeeded" and run.created == 6
    assert len(threads) == 2 and threading.main_thread() not in threads


def test_customers_do_not_share_mirror_rows_or_contacts(mapped, directory, sync):
    fill(directory, 6)
    other = Customer.objects.create(name="Other", plan="enterprise")
    Contact.objects.create(customer=other, email="user1@contoso.com", job_title="Theirs")
    site = Site.objects.create(customer=other, name="Milan")
    Contact.objects.create(customer=other, site=site, email="only-theirs@contoso.com")

    run = sync(mapped)

    assert run.created == 6
    assert Contact.objects.get(customer=other, email="user1@contoso.com").job_title == "Theirs"
    assert Contact.objects.filter(customer=other).count() == 2


def test_contacts_get_their_audit_rows_where_the_database_cannot_return_inserted_rows(
    mapped, directory, sync, monkeypatch
):
    if db_connection.vendor != "sqlite":
        pytest.skip("the fallback for SQLite before 3.35 (no RETURNING)")
    monkeypatch.setattr(type(db_connection.features), "can_return_rows_from_bulk_insert", False)
    fill(directory, 5)

    run = sync(mapped)

    assert run.created == 5
    created = FieldChange.objects.filter(run=run, field="created")
    assert sorted(created.values_list("contact__email", flat=True)) == [
        f"user{n}@contoso.com" for n in range(5)
    ]


def test_a_first_import_classifies_its_new_disabled_accounts_without_looking_them_up(mapped):
    """A first full pass COPYs each page as new rows (PostgreSQL): their accounts have no purpose
    yet, so none is looked up. Right after a large import the planner's statistics describe an
    empty mirror and that lookup scanned every row of the connection, once per page."""
    if db_connection.vendor != "postgresql":
        pytest.skip("the first pass is COPYed on PostgreSQL only")
    directory = FakeDirectory(page_size=4)
    for n in range(12):
        add_person(directory, mail=f"off{n}@contoso.com", accountEnabled=n % 2 == 1, purpose="shared")

    with statements() as sent:
        run = _sync_with(mapped, directory)

    assert run.status == SyncRun.Status.SUCCEEDED
    page_lookups = [
        sql
        for sql in sent
        if sql.startswith('SELECT "integrations_directoryuser"."object_id"') and '"object_id" IN' in sql
    ]
    assert page_lookups == []
    assert DirectoryUser.objects.filter(account_enabled=False, purpose="").count() == 0
    assert DirectoryUser.objects.filter(account_enabled=False, purpose="shared").count() == 6


def test_mailbox_purposes_are_written_only_under_the_lease(mapped, directory):
    add_person(directory, mail="info@contoso.com", accountEnabled=False, purpose="shared")
    for n in range(3):
        add_person(directory, mail=f"off{n}@contoso.com", accountEnabled=False, purpose="user")
    for page in directory.iter_user_delta():
        write_page(mapped, page.users, seen_at=timezone.now(), full_pass=True, guard=no_lease)

    with pytest.raises(LeaseLost):
        classify_disabled_users(mapped, directory.get_mailbox_purposes, on_chunk=HeldLease(0).renew)

    assert set(DirectoryUser.objects.values_list("purpose", flat=True)) == {""}
    classify_disabled_users(mapped, directory.get_mailbox_purposes, on_chunk=HeldLease().renew)
    assert sorted(DirectoryUser.objects.values_list("purpose", flat=True)) == [
        "shared",
        "user",
        "user",
        "user",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_page_its_progress_and_the_purposes_answered_meanwhile_are_one_transaction(mapped, monkeypatch):
    """Each page costs one commit, not three (its rows, the run's progress, the classifier's
    answers): fewer round trips per page, and no savepoint inside it."""
    from integrations.sync import runner
    from integrations.sync.classify import EarlyClassifier

    monkeypatch.setattr(runner, "FULL_PASS_PAGES_TOGETHER", 1)  # each page a write of its own

    directory = FakeDirectory(page_size=4)
    for n in range(12):
        add_person(directory, mail=f"off{n}@contoso.com", accountEnabled=n % 2 == 1, purpose="shared")
    seen: dict[str, list[tuple[object, int]]] = {"write": [], "progress": [], "purposes": []}

    def where() -> tuple[object, int]:
        """The outermost transaction running, and how many savepoints are open in it."""
        blocks = db_connection.atomic_blocks
        return (blocks[0] if blocks else None), len(db_connection.savepoint_ids)

    real_write, real_save, real_written = runner.write_page, SyncRun.save_fields, EarlyClassifier.page_written

    def write(*args, **kwargs):
        seen["write"].append(where())
        return real_write(*args, **kwargs)

    def save_fields(self, *fields):
        if fields == ("fetched", "progress_done"):  # a page's progress
            seen["progress"].append(where())
        return real_save(self, *fields)

    def page_written(self, *args, **kwargs):
        seen["purposes"].append(where())
        return real_written(self, *args, **kwargs)

    monkeypatch.setattr(runner, "write_page", write)
    monkeypatch.setattr(SyncRun, "save_fields", save_fields)
    monkeypatch.setattr(EarlyClassifier, "page_written", page_written)

    run = _sync_with(mapped, directory)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert len(seen["write"]) == 3
    assert seen["write"] == seen["progress"] == seen["purposes"]
    transactions = [block for block, _ in seen["write"]]
    assert None not in transactions and len(set(map(id, transactions))) == 3
    assert {savepoints for _, savepoints in seen["write"]} == {0}
    assert DirectoryUser.objects.filter(account_enabled=False, purpose="shared").count() == 6


def test_a_page_that_fails_after_its_rows_counts_none_of_them(mapped, monkeypatch):
    """The page is rolled back whole: the run's counts do not keep it either."""
    from integrations.sync import runner
    from integrations.sync.classify import EarlyClassifier

    monkeypatch.setattr(runner, "FULL_PASS_PAGES_TOGETHER", 1)  # each page a write of its own

    directory = FakeDirectory(page_size=4)
    fill(directory, 10)
    real_written, calls = EarlyClassifier.page_written, []

    def page_written(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the second page fails after its rows were written")
        return real_written(self, *args, **kwargs)

    monkeypatch.setattr(EarlyClassifier, "page_written", page_written)
    run = _sync_with(mapped, directory)

    assert run.status == SyncRun.Status.FAILED
    stored = SyncRun.objects.get(pk=run.pk)
    assert (stored.fetched, stored.progress_done) == (4, 4)
    assert DirectoryUser.objects.filter(connection=mapped).count() == 4


@pytest.mark.django_db(transaction=True)
def test_purposes_stored_with_a_page_share_its_transaction_and_its_lease_check(mapped):
    """Inside the page's transaction the answers ready are stored without a second lease check,
    and roll back with the page; outside any transaction each answer checks the lease itself."""
    from django.db import transaction

    from integrations.sync.classify import BATCH, EarlyClassifier

    directory = FakeDirectory(page_size=BATCH)
    for n in range(BATCH):
        add_person(directory, mail=f"off{n}@contoso.com", accountEnabled=False, purpose="shared")
    (first,) = list(directory.iter_user_delta())
    answer = threading.Event()

    def fetch_purposes(object_ids):
        answer.wait(5)  # answered only once the test lets it
        return directory.get_mailbox_purposes(object_ids)

    class PageFailed(Exception):
        pass

    def next_page_storing_the_answers() -> None:
        with transaction.atomic():
            deadline = time.monotonic() + 5
            while DirectoryUser.objects.filter(purpose="shared").count() < BATCH:
                assert time.monotonic() < deadline, "the answers were never stored"
                early.page_written([], None)
            raise PageFailed

    lease = HeldLease(0)  # lost: any check of its own fails
    early = EarlyClassifier(mapped, fetch_purposes, on_chunk=lease.renew)
    try:
        result = write_page(mapped, first.users, seen_at=timezone.now(), full_pass=True, guard=no_lease)
        early.page_written(first.users, result.new_disabled)  # one whole `$batch` asked
        answer.set()
        with pytest.raises(PageFailed):
            next_page_storing_the_answers()

        assert lease.renewals == 0  # stored in the page, under the page's check only
        assert DirectoryUser.objects.filter(purpose="shared").count() == 0  # rolled back with it
    finally:
        early.close()

    # Outside any transaction, the same answers check the (lost) lease and are not stored.
    unguarded = EarlyClassifier(mapped, directory.get_mailbox_purposes, on_chunk=HeldLease(0).renew)

    def pages_outside_a_transaction() -> None:
        unguarded.page_written(first.users, [user.object_id for user in first.users])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            unguarded.page_written([], None)

    try:
        with pytest.raises(LeaseLost):
            pages_outside_a_transaction()
    finally:
        unguarded.close()
    assert DirectoryUser.objects.filter(purpose="shared").count() == 0
