"""Who can bind a tenant, played end to end against the Microsoft simulator over
HTTPS with the portal's own MSAL code: only a tenant administrator, with an ID
token that validates, after confirming; a guest administrator binds the tenant
they signed in to, never their home tenant."""

from __future__ import annotations

from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import AzureConnection, DirectoryUser, SyncRun
from microsoft_simulator.pages import ordinary_user
from microsoft_simulator.testing import consent, sign_in
from portal.customers.models import Contact, Customer
from tests.e2e.conftest import CONTOSO, CONTOSO_ADMIN
from tests.integrations.consent_steps import confirmation_fields

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FABRIKAM = "801200dd-397e-42a6-aee4-23cdb509ee77"
FABRIKAM_ADMIN = "AdeleV@fabrikam.onmicrosoft.com"


def local(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def signed_in(client: Client, browser, customer, login: str, tenant: str = ""):
    """Start the flow, pick `login` at Microsoft; return (the portal's answer, the sign-in state)."""
    to_microsoft = client.post(reverse("integrations:connect", args=[customer.pk]), {"tenant": tenant})
    assert to_microsoft.status_code == 302, to_microsoft.content
    state = parse_qs(urlparse(to_microsoft["Location"]).query)["state"][0]
    back = sign_in(browser, to_microsoft["Location"], login)
    return client.get(local(back)), state


def nothing_bound() -> None:
    assert not AzureConnection.objects.exists()
    assert not SyncRun.objects.exists()
    assert not DirectoryUser.objects.exists()


@pytest.fixture
def client(customer_admin) -> Client:
    client = Client()
    client.force_login(customer_admin)
    return client


def test_a_non_administrator_of_a_consented_tenant_forging_the_consent_leg_binds_nothing(
    portal_on_simulator, browser_session, other_customer, other_admin
):
    sim = portal_on_simulator
    sim.apply("grant_consent", tenant=CONTOSO)  # consented once, for someone else, and never revoked
    # An admin of another customer who has an ordinary account in Contoso's tenant.
    client = Client()
    client.force_login(other_admin)
    employee = ordinary_user(sim.state.directories[CONTOSO])

    answer, state = signed_in(client, browser_session, other_customer, employee.userPrincipalName)

    page = unescape(answer.content.decode())
    assert answer.status_code == 400
    assert "is not an administrator of tenant" in page and CONTOSO in page
    assert "adminconsent" not in page
    # Skip Microsoft's consent page and claim it happened, with the only state ever issued.
    for forged in (
        {"admin_consent": "True", "tenant": CONTOSO, "state": state},
        {"admin_consent": "True", "tenant": CONTOSO},
    ):
        response = client.get(reverse("integrations:callback"), forged)
        assert response.status_code == 400
    nothing_bound()


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("wrong_aud", "issued to another application"),
        ("foreign_iss", "not issued by the tenant it names"),
        ("expired", "has expired"),
        ("bad_signature", "signature is not Microsoft's"),
    ],
)
def test_an_id_token_microsoft_should_not_have_sent_binds_nothing(
    portal_on_simulator, browser_session, client, customer, fault, says
):
    portal_on_simulator.set_knobs(id_token_fault=fault)

    answer, _state = signed_in(client, browser_session, customer, CONTOSO_ADMIN)

    assert answer.status_code == 400 and says in unescape(answer.content.decode())
    nothing_bound()


def test_without_the_wids_claim_every_sign_in_is_refused_with_the_fix(
    portal_on_simulator, browser_session, client, customer
):
    portal_on_simulator.set_knobs(id_token_wids=False)

    answer, _state = signed_in(client, browser_session, customer, CONTOSO_ADMIN)

    assert "must emit the 'wids' claim" in unescape(answer.content.decode())
    nothing_bound()


def test_a_guest_administrator_signing_in_to_a_named_tenant_binds_the_customers_tenant(
    portal_on_simulator, browser_session, staff_with_permission
):
    fabrikam = Customer.objects.create(name="Fabrikam", plan="enterprise")
    client = Client()
    client.force_login(staff_with_permission)

    # Megan's home is Contoso (the MSP); she is a guest Global Administrator in Fabrikam.
    answer, _state = signed_in(client, browser_session, fabrikam, CONTOSO_ADMIN, tenant="fabrikam.com")
    assert answer["Location"] == reverse("integrations:confirm")
    page = client.get(reverse("integrations:confirm"))
    text = page.content.decode()
    assert FABRIKAM in text and "fabrikam.com" in text and "Fabrikam Inc" in text
    to_consent = client.post(reverse("integrations:confirm"), confirmation_fields(page))
    assert urlparse(to_consent["Location"]).path == f"/{FABRIKAM}/v2.0/adminconsent"
    done = client.get(local(consent(browser_session, to_consent["Location"], FABRIKAM)))

    assert done["Location"] == reverse("integrations:mapping", args=[fabrikam.pk])
    connection = AzureConnection.objects.get(customer=fabrikam)
    assert (connection.tenant_id, connection.tenant_name) == (FABRIKAM, "Fabrikam Inc")
    assert not AzureConnection.objects.filter(tenant_id=CONTOSO).exists()


def test_on_organizations_the_same_technician_gets_their_home_tenant_and_sees_it_named(
    portal_on_simulator, browser_session, staff_with_permission
):
    fabrikam = Customer.objects.create(name="Fabrikam", plan="enterprise")
    Contact.objects.create(customer=fabrikam, email="adele@fabrikam.com")
    client = Client()
    client.force_login(staff_with_permission)

    answer, _state = signed_in(client, browser_session, fabrikam, CONTOSO_ADMIN)

    page = client.get(answer["Location"]).content.decode()
    assert CONTOSO in page and "Contoso Ltd" in page  # the confirmation says which tenant this really is
    assert 'id="domain-warning"' in page  # and that it shares no domain with Fabrikam's contacts
    nothing_bound()
