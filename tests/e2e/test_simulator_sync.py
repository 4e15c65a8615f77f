"""The portal's own code (MSAL, the Graph client, the sync) against the local
Microsoft simulator over real HTTPS on 127.0.0.1: connect, map, sync, change."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.test import Client
from django.urls import reverse

from integrations import mapping_selectors
from integrations.models import AzureConnection, FieldChange, SyncRun
from integrations.services import mapping
from integrations.sync.runner import run_sync
from integrations.tasks import execute_run
from microsoft_simulator.testing import consent, sign_in
from portal.customers.models import Contact, Site
from tests.e2e.conftest import CONTOSO, CONTOSO_ADMIN
from tests.integrations.consent_steps import confirmation_fields

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def local(url: str) -> str:
    """The path and query of a portal URL Microsoft redirected to."""
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def connect_through_microsoft(client: Client, browser, customer) -> None:
    to_microsoft = client.post(reverse("integrations:connect", args=[customer.pk]))
    back_from_sign_in = sign_in(browser, to_microsoft["Location"], CONTOSO_ADMIN)
    to_confirmation = client.get(local(back_from_sign_in))
    assert to_confirmation["Location"] == reverse("integrations:confirm"), to_confirmation.content
    fields = confirmation_fields(client.get(reverse("integrations:confirm")))
    to_consent = client.post(reverse("integrations:confirm"), fields)
    assert to_consent.status_code == 302, to_consent.content
    back_from_consent = consent(browser, to_consent["Location"], CONTOSO)
    done = client.get(local(back_from_consent))
    assert done.status_code == 302, done.content
    assert done["Location"] == reverse("integrations:mapping", args=[customer.pk])


def test_connect_map_and_sync_a_generated_tenant_over_https(
    portal_on_simulator, browser_session, customer, customer_admin
):
    sim = portal_on_simulator
    client = Client()
    client.force_login(customer_admin)

    connect_through_microsoft(client, browser_session, customer)

    connection = AzureConnection.objects.get(customer=customer)
    assert (connection.tenant_id, connection.tenant_name) in (
        (CONTOSO, "Contoso Ltd"),
        (CONTOSO, "contoso.onmicrosoft.com"),
    )
    read = SyncRun.objects.get(customer=customer, dry_run=True)
    assert execute_run(read.pk) == f"run {read.pk}: succeeded"

    values = mapping_selectors.attribute_values(connection=connection)
    assert values and sum(v.user_count for v in values) > 0
    for value in values:
        mapping.mapping_set(connection=connection, value=value.value, new_site_name=value.value)
    initial = SyncRun.objects.get(customer=customer, trigger="initial", dry_run=False)
    execute_run(initial.pk)
    initial.refresh_from_db()

    assert initial.status == "succeeded", initial.error
    assert initial.created > 0
    assert Contact.objects.filter(customer=customer).count() == initial.created
    assert Contact.objects.filter(customer=customer, is_shared_mailbox=True).exists()
    assert initial.skipped_by_reason.get("guest", 0) > 0
    assert Site.objects.filter(customer=customer).count() >= len(values)

    contact = (
        Contact.objects.filter(customer=customer, is_shared_mailbox=False)
        .exclude(azure_object_id=None)
        .first()
    )
    sim.apply(
        "update_user", tenant=CONTOSO, user=contact.azure_object_id, props={"jobTitle": "Chief Simulator"}
    )
    again = run_sync(connection, trigger=SyncRun.Trigger.MANUAL)

    assert again.status == "succeeded" and not again.full_pass
    contact.refresh_from_db()
    assert contact.job_title == "Chief Simulator"
    change = FieldChange.objects.get(run=again)
    assert (change.field, change.new_value) == ("job_title", "Chief Simulator")
    graph = [r for r in sim.state.requests if r.path.startswith("/v1.0/")]
    assert {r.method for r in graph if r.path != "/v1.0/$batch"} == {"GET"}  # R1, seen by Microsoft
