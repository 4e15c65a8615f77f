"""Generated tenants: deterministic, and small ones still hold every edge case."""

from __future__ import annotations

from microsoft_simulator.catalog import FIXED_TENANTS, tenant_specs
from microsoft_simulator.tenants import UserFactory, generate_users
from tests.simulator.helpers import CONTOSO, FABRIKAM


def _users(count, seed=1, spec=FIXED_TENANTS[0]):
    return generate_users(UserFactory(spec, seed), count)


def test_the_same_seed_generates_the_same_directory():
    assert _users(300) == _users(300)
    assert _users(300) != _users(300, seed=2)


def test_fixed_tenants_keep_their_ids_names_and_admins():
    contoso, fabrikam = tenant_specs(2)

    assert (contoso.id, contoso.name, contoso.admin_upn) == (
        CONTOSO,
        "Contoso Ltd",
        "MeganB@contoso.onmicrosoft.com",
    )
    assert (fabrikam.id, fabrikam.name, fabrikam.admin_upn) == (
        FABRIKAM,
        "Fabrikam Inc",
        "AdeleV@fabrikam.onmicrosoft.com",
    )
    assert len({spec.id for spec in tenant_specs(9)}) == 9


def test_a_small_tenant_holds_every_edge_case():
    users = _users(20)

    assert users[0].id == FIXED_TENANTS[0].admin_id
    purposes = {u.purpose for u in users}
    assert {"user", "shared", "room", "equipment", None} <= purposes
    shared = next(u for u in users if u.purpose == "shared")
    assert shared.accountEnabled is False and shared.assignedLicenses == ()
    guest = next(u for u in users if u.userType == "Guest")
    assert "#EXT#" in guest.userPrincipalName
    assert any(not u.accountEnabled and u.purpose == "user" for u in users)  # a leaver
    assert any(u.mail is None and u.userType == "Member" for u in users)
    mails = [u.mail for u in users if u.mail]
    assert len({m.lower() for m in mails}) < len(set(mails))  # same email, other case
    offices = {u.officeLocation for u in users if u.officeLocation}
    assert " milan hq" in offices and "MILAN HQ " in offices and "Milan HQ" in offices


def test_values_reach_graphs_maximum_lengths_and_unicode():
    users = _users(20)

    assert max(len(u.givenName or "") for u in users) == 64
    assert max(len(u.jobTitle or "") for u in users) == 128
    assert any("🌸" in (u.givenName or "") for u in users)
    assert any(not (u.surname or "x").isascii() for u in _users(200))


def test_tenant_sizes_can_differ(sim):
    from microsoft_simulator.testing import running_simulator

    with running_simulator(users=[30, 5], tenants=2) as other:
        assert [len(d.users) for d in other.state.directories.values()] == [30, 5]
