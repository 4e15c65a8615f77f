"""Shared arrangements of the safety-net tests: a tenant big enough for the brake."""

from __future__ import annotations

from integrations.models import AzureConnection, SyncRun
from integrations.services.held_runs import run_approve
from integrations.sync.runner import run_sync
from tests.integrations.fakes import FakeDirectory


def populate(directory: FakeDirectory, count: int, *, office: str = "Milan HQ") -> list[str]:
    """`count` people in one mapped office, with distinct emails and titles."""
    directory.page_size = 500
    return [
        directory.add(
            givenName=f"Given{n}",
            surname=f"Surname{n}",
            jobTitle=f"Title {n}",
            mobilePhone=f"+39 333 {n:07d}",
            mail=f"person{n}@contoso.com",
            officeLocation=office,
        )
        for n in range(count)
    ]


def sync_run(connection: AzureConnection, directory: FakeDirectory, *, trigger: str = SyncRun.Trigger.MANUAL):
    connection.refresh_from_db()
    return run_sync(connection, trigger=trigger, client_factory=directory)


def approve_and_apply(held: SyncRun, directory: FakeDirectory, *, by=None) -> SyncRun:
    """What the worker does after the Approve button: execute the approval run."""
    approval = run_approve(run=held, by=by, hand_to_worker=False)
    return run_sync(approval.connection, trigger=approval.trigger, run=approval, client_factory=directory)
