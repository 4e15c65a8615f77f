"""What the confirmation page shows about a tenant, and how it compares with the customer.

The tenant's name and verified domains are read once with the signed-in
administrator's delegated `User.Read` token (enough for `GET /organization`),
which is then dropped; the customer's side is the email domains of its contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.conf import settings
from django.db.models import Value
from django.db.models.functions import Lower, StrIndex, Substr

from integrations.graph.http import build_session
from portal.customers.models import Contact, Customer

MAX_DOMAINS = 50  # what the page lists; a tenant rarely has more


@dataclass(frozen=True)
class TenantProfile:
    """The tenant as the administrator's own token sees it."""

    name: str
    domains: tuple[str, ...]


def read_signed_in_tenant(access_token: str) -> TenantProfile | None:
    """Name and verified domains of the signed-in admin's tenant; None if Graph would not say."""
    # Reference: https://learn.microsoft.com/en-us/graph/api/organization-list?view=graph-rest-1.0
    url = f"{settings.GRAPH_API_URL.rstrip('/')}/organization?$select=id,displayName,verifiedDomains"
    try:
        response = build_session().get(url, headers={"Authorization": f"Bearer {access_token}"})
        value = response.json().get("value") if response.ok else None
    except (requests.RequestException, ValueError, AttributeError):
        return None
    first = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else None
    if first is None:
        return None
    name = first.get("displayName")
    domains: list[str] = []
    for entry in first.get("verifiedDomains") or ():
        domain = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(domain, str) and domain.strip() and domain.strip().lower() not in domains:
            domains.append(domain.strip().lower()[:253])
    return TenantProfile(
        name=name.strip()[:256] if isinstance(name, str) else "", domains=tuple(domains[:MAX_DOMAINS])
    )


def customer_email_domains(customer: Customer) -> set[str]:
    """The distinct email domains of the customer's contacts (lowercased)."""
    # Computed in the database: a customer can have 100,000 contacts but a handful of domains.
    at = StrIndex("email", Value("@"))
    domains = (
        Contact.objects.filter(customer=customer, email__contains="@")
        .annotate(domain=Lower(Substr("email", at + 1)))
        .order_by()
        .values_list("domain", flat=True)
        .distinct()
    )
    return {domain.strip() for domain in domains if domain and domain.strip()}


def domains_match(customer: Customer, tenant_domains: tuple[str, ...] | list[str]) -> bool | None:
    """True if a contact's domain is among the tenant's, False if none is, None without contacts."""
    contact_domains = customer_email_domains(customer)
    if not contact_domains:
        return None
    return bool(contact_domains & {d.lower() for d in tenant_domains})
