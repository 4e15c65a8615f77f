"""Demo data for `make run` and screenshots: three customers (two on plans that
include the Entra sync, one that does not), their sites and contacts, an MSP
staff user and two portal users of Contoso.

Running it again creates nothing twice and leaves edited demo objects as they
are; only the three demo logins get a fresh password (so the printed ones work).
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from portal.access.staff_group import STAFF_GROUP
from portal.customers.models import Contact, Customer, Membership, Plan, Site

# (first name, last name, job title); a few names need more than ASCII on purpose.
_PEOPLE = [
    ("Ada", "Lovelace", "Chief Technology Officer"),
    ("Alan", "Turing", "Research Engineer"),
    ("Grace", "Hopper", "Head of Development"),
    ("Zoë", "Müller", "Office Manager"),
    ("José", "Núñez", "Sales Representative"),
    ("Margaret", "Hamilton", "Software Architect"),
    ("Linus", "Berg", "Network Administrator"),
    ("Katherine", "Johnson", "Data Analyst"),
    ("Tim", "Berners-Lee", "Web Developer"),
    ("Barbara", "Liskov", "Quality Lead"),
    ("Dennis", "Ritchie", "Systems Engineer"),
    ("Frances", "Allen", "Compiler Specialist"),
    ("Ken", "Thompson", "Operations Engineer"),
    ("Radia", "Perlman", "Network Engineer"),
    ("Donald", "Knuth", "Technical Writer"),
    ("Hedy", "Lamarr", "Product Designer"),
    ("Edsger", "Dijkstra", "Team Lead"),
    ("Shafi", "Goldwasser", "Security Officer"),
    ("Łukasz", "Żółkiewski", "Accountant"),
    ("Søren", "Kierkegaard", "HR Partner"),
]


@dataclass(frozen=True)
class _DemoCustomer:
    name: str
    plan: str
    domain: str
    sites: tuple[str, ...]
    phone_prefix: str


DEMO_CUSTOMERS = (
    _DemoCustomer("Contoso Ltd", Plan.ENTERPRISE, "contoso.com", ("Milan", "Rome", "Turin"), "+39 333"),
    _DemoCustomer("Fabrikam Inc", Plan.SUPERPOWER, "fabrikam.com", ("Seattle", "Redmond"), "+1 425"),
    # Not on a plan that includes the Entra sync: shows the plan gating (R17).
    _DemoCustomer(
        "Northwind Traders", Plan.PROFESSIONAL, "northwindtraders.com", ("London", "Leeds"), "+44 7700"
    ),
)
CONTOSO = DEMO_CUSTOMERS[0].name


@dataclass(frozen=True)
class DemoLogin:
    """A demo user whose password was just set."""

    username: str
    password: str
    description: str
    admin_site: bool


@dataclass
class DemoResult:
    """What `seed_demo` created this time, and the logins to print."""

    customers_created: int = 0
    sites_created: int = 0
    contacts_created: int = 0
    logins: list[DemoLogin] = field(default_factory=list)


def _email(first_name: str, last_name: str, domain: str) -> str:
    # Mail systems rarely accept accented local parts: fold the names to ASCII.
    local = f"{first_name}.{last_name}".lower().replace(" ", "").replace("ł", "l").replace("ø", "o")
    local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return f"{local}@{domain}"


def _people(shift: int) -> list[tuple[str, str, str]]:
    """The demo people, recombined per customer so each has its own staff."""
    count = len(_PEOPLE)
    return [
        (_PEOPLE[i][0], _PEOPLE[(i + 7 * shift) % count][1], _PEOPLE[(i + 3 * shift) % count][2])
        for i in range(count)
    ]


def _seed_customer(demo: _DemoCustomer, shift: int, result: DemoResult) -> Customer:
    customer, created = Customer.objects.get_or_create(name=demo.name, defaults={"plan": demo.plan})
    result.customers_created += created
    sites = []
    for name in demo.sites:
        site, created = Site.objects.get_or_create(customer=customer, name=name)
        result.sites_created += created
        sites.append(site)
    existing = {email.lower() for email in customer.contacts.values_list("email", flat=True)}
    new_contacts = []
    for index, (first_name, last_name, job_title) in enumerate(_people(shift)):
        email = _email(first_name, last_name, demo.domain)
        if email in existing:
            continue
        new_contacts.append(
            Contact(
                customer=customer,
                site=sites[index % len(sites)],
                email=email,
                first_name=first_name,
                last_name=last_name,
                job_title=job_title,
                mobile_phone=f"{demo.phone_prefix} {1000000 + index * 7919:07d}",
            )
        )
    mailbox = f"info@{demo.domain}"
    if mailbox not in existing:
        new_contacts.append(
            Contact(
                customer=customer, site=sites[0], email=mailbox, first_name="Info", is_shared_mailbox=True
            )
        )
    Contact.objects.bulk_create(new_contacts)
    result.contacts_created += len(new_contacts)
    return customer


def _set_login(
    username: str, *, password: str | None, description: str, is_staff: bool = False, email: str = ""
) -> tuple[AbstractUser, DemoLogin]:
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    password = password or secrets.token_urlsafe(12)
    user.set_password(password)
    user.is_active = True
    user.is_staff = is_staff
    user.save()
    return user, DemoLogin(username, password, description, admin_site=is_staff)


@transaction.atomic
def seed_demo(*, password: str | None = None) -> DemoResult:
    """Create the demo customers and users if missing; set the demo passwords.

    Each demo user gets `password`, or a new random one when it is None.
    """
    result = DemoResult()
    customers = {demo.name: _seed_customer(demo, shift, result) for shift, demo in enumerate(DEMO_CUSTOMERS)}
    contoso = customers[CONTOSO]

    staff, login = _set_login(
        "staff",
        password=password,
        is_staff=True,
        email="staff@msp.example",
        description="MSP staff (group MSP staff): customers, users, invitations, Entra ID connections, health",
    )
    # Exactly the MSP staff group's permissions (created by a migration), nothing of its own.
    staff.user_permissions.clear()
    staff.groups.add(Group.objects.get(name=STAFF_GROUP))
    result.logins.append(login)

    for username, role, description in [
        ("contoso-admin", Membership.Role.ADMIN, f"customer administrator of {CONTOSO} (portal)"),
        ("contoso-user", Membership.Role.MEMBER, f"member of {CONTOSO} (portal, read-only)"),
    ]:
        user, login = _set_login(
            username, password=password, email=f"{username}@contoso.com", description=description
        )
        Membership.objects.update_or_create(user=user, customer=contoso, defaults={"role": role})
        result.logins.append(login)
    return result
