"""What the reliability tests share: connected customers, comparable states,
a Graph client with small pages, and a transport that drops connections."""

from __future__ import annotations

import random
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter

from integrations.graph.client import GraphClient
from integrations.graph.http import build_session
from integrations.models import AzureConnection, DirectoryUser, FieldChange, SiteMapping
from integrations.values import clean_text
from microsoft_simulator.directory import Directory
from portal.customers.models import Contact, Customer, Site

# A tenant id no simulator tenant has: the reference customer's connection,
# whose client reads the same simulated tenant as the customer under test.
REFERENCE_TENANT = "00000000-0000-4000-8000-00000000beef"


def connect(name: str, tenant_id: str, offices: tuple[str, ...] | list[str]) -> AzureConnection:
    """A customer on a plan with the sync, connected to `tenant_id`, every office mapped to a site."""
    customer = Customer.objects.create(name=name, plan="enterprise")
    # brake_percent=100: these suites check convergence under faults; a storm's accumulated
    # churn may be a mass change, and the brake is proven in tests/integrations/test_brake.py.
    connection = AzureConnection.objects.create(
        customer=customer, tenant_id=tenant_id, tenant_name=name, brake_percent=100
    )
    for office in offices:
        site = Site.objects.create(customer=customer, name=office)
        SiteMapping.objects.create(connection=connection, value=office, site=site)
    return connection


def contact_state(customer: Customer) -> list[tuple]:
    return sorted(
        Contact.objects.filter(customer=customer).values_list(
            "email",
            "first_name",
            "last_name",
            "job_title",
            "mobile_phone",
            "site__name",
            "is_shared_mailbox",
            "azure_object_id",
        )
    )


def audit_state(customer: Customer) -> list[tuple]:
    return sorted(
        FieldChange.objects.filter(customer=customer).values_list(
            "contact_email", "field", "old_value", "new_value"
        )
    )


class SmallPages(GraphClient):
    """The production client, asking for small pages so a run makes many requests."""

    page_size = 20

    def iter_user_delta(self, delta_link=None, *, page_size=None):
        return super().iter_user_delta(delta_link, page_size=page_size or self.page_size)


def client_factory(
    tenant_id: str | None = None, *, page_size: int = 20, **kwargs
) -> Callable[[str], GraphClient]:
    """A `run_sync` client factory; `tenant_id` reads another tenant than the connection's."""

    def build(connection_tenant: str) -> GraphClient:
        client = SmallPages(tenant_id or connection_tenant, **kwargs)
        client.page_size = page_size
        return client

    return build


class DroppingAdapter(HTTPAdapter):
    """Drops a share of connections: before the request reaches Microsoft, or
    after it was served (the answer is lost), as a flaky network does."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        super().__init__()
        self.rate = rate
        self.rng = rng
        self.dropped = 0

    def send(self, request, **kwargs):
        draw = self.rng.random()
        if draw < self.rate / 2:
            self.dropped += 1
            raise requests.ConnectionError("Connection reset by peer (dropped before the request was sent)")
        response = super().send(request, **kwargs)
        if draw < self.rate:
            self.dropped += 1
            response.close()
            if draw < self.rate * 0.75:
                raise requests.ConnectionError("Remote end closed connection without response")
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
        return response


def dropping_session(rate: float, rng: random.Random) -> tuple[requests.Session, DroppingAdapter]:
    session = build_session()
    adapter = DroppingAdapter(rate, rng)
    session.mount("https://", adapter)
    return session, adapter


def mirror_mismatches(connection: AzureConnection, directory: Directory) -> list[str]:
    """How the connection's mirror differs from the simulated tenant (empty: identical)."""
    rows = {row.object_id: row for row in DirectoryUser.objects.filter(connection=connection)}
    problems = []
    for user in directory.users.values():
        row = rows.pop(user.id, None)
        if row is None or row.removed:
            problems.append(f"{user.id}: {'missing' if row is None else 'marked removed'}")
            continue
        expected = {
            "given_name": user.givenName,
            "surname": user.surname,
            "job_title": user.jobTitle,
            "mobile_phone": user.mobilePhone,
            "mail": user.mail,
            "user_principal_name": user.userPrincipalName,
            "office_location": user.officeLocation,
            "department": user.department,
            "user_type": user.userType,
        }
        for field, value in expected.items():
            if getattr(row, field) != clean_text(field, value)[0]:
                problems.append(f"{user.id}: {field} {getattr(row, field)!r} != {value!r}")
        if row.account_enabled != user.accountEnabled or row.has_license != bool(user.assignedLicenses):
            problems.append(f"{user.id}: account flags differ")
    problems.extend(f"{oid}: still in the mirror" for oid, row in rows.items() if not row.removed)
    return problems
