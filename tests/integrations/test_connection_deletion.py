"""Deleting a connection deletes its whole mirror, even while a sync writes a page of it
(integrations/deletion.py: the mirror's key has no database constraint)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db
from django.db import connections, transaction
from django.utils import timezone

from integrations.graph.models import GraphUser
from integrations.lease import Lease
from integrations.models import AzureConnection, DirectoryUser
from integrations.services.connections import connection_disconnect
from integrations.sync.mirror import write_page

pytestmark = pytest.mark.django_db


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
    write_page(connection, page(3), seen_at=timezone.now(), full_pass=True)

    connection.delete()

    assert mirror_rows(connection.pk) == 0


def test_deleting_a_customer_deletes_its_connections_mirror(connection, customer):
    write_page(connection, page(3), seen_at=timezone.now(), full_pass=True)

    customer.delete()

    assert mirror_rows(connection.pk) == 0


def test_the_mirror_key_has_no_database_constraint():
    """Checking it per row at commit was about a tenth of a 100,000-user import (docs/performance.md)."""
    field = DirectoryUser._meta.get_field("connection")
    assert field.db_constraint is False


@pytest.mark.skipif(db.vendor != "postgresql", reason="SQLite lets one writer at a time: no such race")
@pytest.mark.django_db(transaction=True)
def test_a_disconnect_during_a_page_write_waits_for_it_and_deletes_its_rows(connection):
    """The page's transaction holds the connection's row (its lease renewal); the deletion
    locks that row first, so it waits for the page's commit and then sees its rows."""
    lease = Lease.acquire(connection.pk)
    assert lease is not None
    written, may_commit, disconnected = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def sync_writes_a_page() -> None:
        try:
            with transaction.atomic():
                write_page(connection, page(50), seen_at=timezone.now(), full_pass=True, guard=lease.renew)
                written.set()
                may_commit.wait(10)
        except BaseException as error:
            failures.append(error)
            written.set()
        finally:
            connections.close_all()

    def staff_disconnects() -> None:
        try:
            connection_disconnect(connection=AzureConnection.objects.get(pk=connection.pk))
        except BaseException as error:
            failures.append(error)
        finally:
            disconnected.set()
            connections.close_all()

    writer = threading.Thread(target=sync_writes_a_page)
    writer.start()
    assert written.wait(10)
    deleter = threading.Thread(target=staff_disconnects)
    deleter.start()
    waited = not disconnected.wait(0.5)  # blocked on the page's lock of the connection row
    may_commit.set()
    writer.join(10)
    deleter.join(10)

    assert failures == []
    assert waited
    assert not AzureConnection.objects.filter(pk=connection.pk).exists()
    assert mirror_rows(connection.pk) == 0


@pytest.mark.skipif(db.vendor != "postgresql", reason="SQLite lets one writer at a time: no such race")
@pytest.mark.django_db(transaction=True)
def test_a_page_started_after_the_disconnect_writes_nothing(connection):
    """The deletion holds the row: the page's lease renewal waits, then finds the lease gone."""
    from integrations.lease import LeaseLost

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

    writer = threading.Thread(target=page_after_the_lock)
    writer.start()
    with transaction.atomic():
        doomed = AzureConnection.objects.get(pk=connection.pk)
        list(AzureConnection.objects.select_for_update().filter(pk=connection.pk))
        locked.set()
        writer.join(0.5)  # the page waits on the row
        assert writer.is_alive()
        doomed.delete()
    writer.join(10)

    assert outcome == ["lease lost"]
    assert mirror_rows(connection.pk) == 0
