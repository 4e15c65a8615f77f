"""`azure_policy` and the policy service: every change validated and recorded with its author."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations.services import policies
from portal.activity.models import Activity

pytestmark = pytest.mark.django_db
GROUP = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def run(*args) -> str:
    out = StringIO()
    call_command("azure_policy", *args, stdout=out)
    return out.getvalue()


def test_show_prints_the_seed_defaults(connection):
    output = run("Contoso", "--show")

    assert "Leavers: Keep the contact as it is" in output
    assert "Identity: By email" in output
    assert "Scope: all users" in output
    assert "Brake: 20% (default)" in output
    assert not Activity.objects.exists()


def test_it_sets_every_policy_and_records_one_activity(connection):
    output = run(
        "contoso",
        "--leavers",
        "deactivate",
        "--identity",
        "object",
        "--brake",
        "35",
        "--scope-group",
        GROUP.upper(),
        "--licensed-only",
        "--portal-owned",
        "mobile_phone",
    )

    connection.refresh_from_db()
    assert (connection.leavers, connection.identity, connection.brake_percent) == ("deactivate", "object", 35)
    assert (connection.scope_groups, connection.licensed_only) == ([GROUP], True)
    assert connection.portal_owned_fields == ["mobile_phone"]
    assert "leavers: keep → deactivate" in output
    assert "GroupMember.Read.All" in output
    (record,) = Activity.objects.all()
    assert record.kind == Activity.Kind.POLICY_CHANGED
    assert record.actor is None  # a command: the system
    assert record.details["after"]["leavers"] == "deactivate"


def test_the_brake_set_here_is_the_one_azure_brake_shows(connection):
    run("Contoso", "--brake", "40")
    out = StringIO()
    call_command("azure_brake", "Contoso", stdout=out)

    assert "more than 40%" in out.getvalue()


def test_all_licences_and_scope_all_undo_the_scope(connection):
    run("Contoso", "--scope-group", GROUP, "--licensed-only")
    run("Contoso", "--scope-group", "all", "--all-licences")

    connection.refresh_from_db()
    assert (connection.scope_groups, connection.licensed_only) == ([], False)
    assert Activity.objects.count() == 2


def test_a_repeated_change_changes_and_records_nothing(connection):
    run("Contoso", "--leavers", "deactivate")

    assert "Nothing changed" in run("Contoso", "--leavers", "deactivate")
    assert Activity.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope-group", "not-a-guid"], "GUID"),
        (["--brake", "0"], "between 1 and 100"),
        (["--brake", "101"], "between 1 and 100"),
        (["--portal-owned", "email"], "Unknown field"),
    ],
)
def test_bad_input_is_a_one_line_error_and_changes_nothing(connection, args, message):
    with pytest.raises(CommandError, match=message):
        run("Contoso", *args)

    connection.refresh_from_db()
    assert policies.policy_of(connection) == policies.Policy()
    assert not Activity.objects.exists()


def test_bad_choices_and_unknown_customers_are_refused(connection):
    with pytest.raises(CommandError):
        run("Contoso", "--leavers", "delete")
    with pytest.raises(CommandError):
        run("Contoso", "--licensed-only", "--all-licences")
    with pytest.raises(CommandError, match="No customer"):
        run("Nobody", "--show")


def test_the_service_records_the_author(connection, customer_admin):
    policy = policies.policy_with(policies.policy_of(connection), leavers="deactivate")

    changes = policies.policy_save(connection=connection, policy=policy, actor=customer_admin)

    assert changes == {"leavers": ("keep", "deactivate")}
    record = Activity.objects.get()
    assert (record.actor, record.actor_name) == (customer_admin, customer_admin.username)
    assert record.customer == connection.customer
