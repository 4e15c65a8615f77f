"""Property: for random histories of directory changes, local edits and runs,
undoing the last run puts every contact it touched (that nothing touched since)
back exactly as it was before that run, and touches nothing else."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from integrations.models import AzureConnection, FieldChange, SiteMapping, SyncRun
from integrations.services.undo import execute_undo, undo_start
from integrations.sync.runner import run_sync
from portal.customers.models import Contact, Customer, Site
from tests.integrations.fakes import FakeDirectory

pytestmark = pytest.mark.django_db

PEOPLE = 6
TITLES = ["", "Analyst", "Clerk", "Head"]  # few values, so edits collide with what runs write
PHONES = ["", "+39 1", "+39 2"]
OFFICES = ["Milan HQ", "Rome", "Paris"]  # Paris is unmapped: users move out of scope
COMPARED = ("first_name", "last_name", "job_title", "mobile_phone", "site_id")

person = st.integers(0, PEOPLE - 1)
directory_change = st.one_of(
    st.tuples(st.just("title"), person, st.sampled_from(TITLES)),
    st.tuples(st.just("phone"), person, st.sampled_from(PHONES)),
    st.tuples(st.just("office"), person, st.sampled_from(OFFICES)),
    st.tuples(st.just("name"), person, st.sampled_from(["Ada", "Bea", "Cy"])),
    st.tuples(st.just("leave"), person, st.none()),
)
local_edit = st.one_of(
    st.tuples(st.just("edit_title"), person, st.sampled_from(TITLES)),
    st.tuples(st.just("edit_phone"), person, st.sampled_from(PHONES)),
    st.tuples(st.just("delete"), person, st.none()),
)
step = st.one_of(directory_change, local_edit, st.tuples(st.just("run"), st.none(), st.none()))


def email(n: int) -> str:
    return f"p{n}@contoso.com"


def snapshot(customer: Customer) -> dict[str, tuple]:
    return {
        row[0].lower(): row[1:]
        for row in Contact.objects.filter(customer=customer).values_list("email", *COMPARED)
    }


class World:
    def __init__(self) -> None:
        self.customer = Customer.objects.create(name="Prop Ltd", plan="enterprise")
        milan = Site.objects.create(customer=self.customer, name="Milan")
        rome = Site.objects.create(customer=self.customer, name="Rome")
        self.connection = AzureConnection.objects.create(
            customer=self.customer, tenant_id="99999999-0000-0000-0000-000000000001"
        )
        SiteMapping.objects.create(connection=self.connection, value="Milan HQ", site=milan)
        SiteMapping.objects.create(connection=self.connection, value="Rome", site=rome)
        self.directory = FakeDirectory(page_size=50)
        self.ids = {
            n: self.directory.add(
                givenName=f"G{n}",
                surname=f"S{n}",
                jobTitle="Analyst",
                mail=email(n),
                officeLocation="Milan HQ",
            )
            for n in range(PEOPLE)
        }

    def apply(self, kind: str, n: int | None, value) -> None:
        users = self.directory.users
        if kind in ("title", "phone", "office", "name"):
            prop = {
                "title": "jobTitle",
                "phone": "mobilePhone",
                "office": "officeLocation",
                "name": "givenName",
            }[kind]
            if self.ids[n] in users:
                self.directory.update(self.ids[n], **{prop: value or None})
        elif kind == "leave":
            if self.ids[n] in users:
                self.directory.remove(self.ids[n])
        elif kind in ("edit_title", "edit_phone", "delete"):
            contact = Contact.objects.filter(customer=self.customer, email=email(n)).first()
            if contact is None:
                return
            if kind == "delete":
                contact.delete()
                return
            setattr(contact, "job_title" if kind == "edit_title" else "mobile_phone", value)
            contact.save()

    def run(self) -> SyncRun:
        self.connection.refresh_from_db()
        self.connection.resume()
        run = run_sync(self.connection, trigger=SyncRun.Trigger.MANUAL, client_factory=self.directory)
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        return run


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(step, max_size=12),
    last_changes=st.lists(directory_change, min_size=1, max_size=6),
    edits_after=st.lists(local_edit, max_size=3),
)
def test_undoing_the_last_run_restores_what_it_touched_and_nothing_else(
    db, history, last_changes, edits_after
):
    with transaction.atomic():
        world = World()
        world.run()
        for kind, n, value in history:
            world.run() if kind == "run" else world.apply(kind, n, value)
        for change in last_changes:
            world.apply(*change)
        before = snapshot(world.customer)
        last = world.run()
        touched = {
            e.lower() for e in FieldChange.objects.filter(run=last).values_list("contact_email", flat=True)
        }
        assume(touched)  # a run that wrote nothing has nothing to undo (refused, tested elsewhere)
        for change in edits_after:
            world.apply(*change)
        edited_since = {email(n) for _kind, n, _value in edits_after}
        before_undo = snapshot(world.customer)

        undo = execute_undo(undo_start(run=last, requested_by=None, hand_to_worker=False))

        assert undo.status == SyncRun.Status.SUCCEEDED, undo.error
        after = snapshot(world.customer)
        for address in touched - edited_since:
            assert after.get(address) == before.get(address), address
        for address in set(before_undo) | set(after):
            if address not in touched:
                assert after.get(address) == before_undo.get(address), address
        for address in touched & edited_since:
            # Whatever a person did since wins: a deleted contact stays deleted, an edited field stays edited.
            if address not in before_undo:
                assert address not in after
        transaction.set_rollback(True)
