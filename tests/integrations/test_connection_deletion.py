"""Deleting a connection deletes its whole mirror, even while a sync writes a page of it
(integrations/deletion.py: the mirror's key has no database constraint)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db
from django.db import connections, transaction
from django.db.models.deletion import Collector
from django.db.models.signals import pre_delete
from django.utils import timezone

from integrations.graph.models import GraphUser
from integrations.lease import Lease, LeaseLost
from integrations.models import AzureConnection, DirectoryUser
from integrations.services.connections import connection_disconnect
from integrations.sync.mirror import write_page

pytestmark = pytest.mark.django_db


def no_lease() -> None:
    """A page written outside a run: no lease to check."""


def mirror_rows(connection_id: int) -> int:
    """Rows keyed to the connection, read in SQL: an orphan has no connection for the ORM to join."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM integrations_directoryuser WHERE connection_id = %s", [connection_id]
        )
        return cursor.fetchone()[0]


def page(size: int, prefix: str = "u") -> list[GraphUser]:
    return [
        GraphUser(object_id=f"{prefix}{n}", present=frozenset({"mail"}), mail=f"{prefix}{n}@contoso.com")
        for n in range(size)
    ]


def test_deleting_a_connection_deletes_its_mirror(connection):
    write_page(connection, page(3), seen_at=timezone.now(), full_pass=True, guard=no_lease)

    connection.delete()

    assert mirror_rows(connection.pk) == 0


def test_deleting_a_customer_deletes_its_connections_mirror(connection, customer):
    write_page(connection, page(3), seen_at=timezone.now(), full_pass=True, guard=no_lease)

    customer.delete()

    assert mirror_rows(connection.pk) == 0


def test_the_mirror_key_has_no_database_constraint():
    """Checking it per row at commit was about a tenth of a 100,000-user import (docs/performance.md)."""
    field = DirectoryUser._meta.get_field("connection")
    assert field.db_constraint is False


def test_the_mirror_is_deleted_by_one_statement_after_the_lock():
    """The lock covers the mirror only while Django deletes it with one DELETE sent after the
    `pre_delete` signals; a receiver or a cascading key on DirectoryUser would make Django read
    its rows first, before the lock."""
    collector = Collector(using="default", origin=None)

    assert collector.can_fast_delete(
        DirectoryUser.objects.all(), from_field=DirectoryUser._meta.get_field("connection")
    )


def waiting_on_a_lock(fragment: str, timeout: float = 5.0) -> bool:
    """Whether another session waits on a lock in a statement containing `fragment`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
            cursor.execute(
                "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if any(fragment in query for (query,) in cursor.fetchall()):
                return True
        time.sleep(0.02)
    return False


postgresql_race = pytest.mark.skipif(
    db.vendor != "postgresql", reason="SQLite lets one writer at a time: no such race"
)


@postgresql_race
@pytest.mark.django_db(transaction=True)
def test_a_disconnect_during_a_page_write_waits_for_it_and_deletes_its_rows(connection):
    """The page's transaction holds the connection's row (its lease renewal); the deletion
    locks that row before deleting anything, so it waits for the page's commit and then sees
    its rows."""
    lease = Lease.acquire(connection.pk)
    assert lease is not None
    written, may_commit = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def sync_writes_a_page() -> None:
        try:
            with transaction.atomic():
                write_page(connection, page(50), seen_at=timezone.now(), full_pass=True, guard=lease.renew)
                written.set()
                may_commit.wait(10)
        except BaseException as error:
            failures.append(error)
        finally:
            written.set()
            connections.close_all()

    def staff_disconnects() -> None:
        try:
            connection_disconnect(connection=AzureConnection.objects.get(pk=connection.pk))
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    writer = threading.Thread(target=sync_writes_a_page)
    deleter = threading.Thread(target=staff_disconnects)
    writer.start()
    try:
        assert written.wait(10)
        deleter.start()
        # It waits in the lock taken before the mirror's DELETE, not in the connection's own DELETE.
        assert waiting_on_a_lock("FOR UPDATE")
    finally:
        may_commit.set()
        writer.join(10)
        if deleter.ident is not None:  # started
            deleter.join(10)

    assert failures == []
    assert not AzureConnection.objects.filter(pk=connection.pk).exists()
    assert mirror_rows(connection.pk) == 0


@postgresql_race
@pytest.mark.django_db(transaction=True)
def test_a_page_started_once_the_deletion_holds_the_row_writes_nothing(connection):
    """The page's lease renewal waits for the deletion, then finds the lease gone with the row."""
    lease = Lease.acquire(connection.pk)
    assert lease is not None
    locked, outcome = threading.Event(), []

    def page_after_the_lock() -> None:
        locked.wait(10)
        try:
            write_page(connection, page(5, "late"), seen_at=timezone.now(), full_pass=True, guard=lease.renew)
            outcome.append("written")
        except LeaseLost:
            outcome.append("lease lost")
        finally:
            connections.close_all()

    def once_locked(sender, instance, **kwargs) -> None:
        """Runs after `deletion.lock_before_delete`: start the page, let it reach the row."""
        locked.set()
        waiting_on_a_lock('UPDATE "integrations_azureconnection"', timeout=2)

    writer = threading.Thread(target=page_after_the_lock)
    writer.start()
    pre_delete.connect(once_locked, sender=AzureConnection, weak=False, dispatch_uid="test-once-locked")
    try:
        AzureConnection.objects.get(pk=connection.pk).delete()
    finally:
        pre_delete.disconnect(sender=AzureConnection, dispatch_uid="test-once-locked")
        locked.set()
        writer.join(10)

    assert outcome == ["lease lost"]
    assert mirror_rows(connection.pk) == 0
