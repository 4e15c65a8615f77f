"""Fixed tenant identities and the name, office and title pools users are drawn from.

Kept apart from the generator so the data (what a demo shows) and the
mechanics (how users are drawn) can be read and changed separately.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

SIMNAMESPACE = uuid.UUID("9b0d3f6e-2c51-4a8e-bf7d-5e0c1a2b3c4d")


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """A simulated tenant's identity: fixed ids so demos and docs can rely on them."""

    id: str
    name: str
    slug: str
    domain: str
    admin_given: str
    admin_surname: str
    offices: tuple[str, ...]

    @property
    def initial_domain(self) -> str:
        return f"{self.slug}.onmicrosoft.com"

    @property
    def admin_id(self) -> str:
        return str(uuid.uuid5(SIMNAMESPACE, f"{self.id}:admin"))

    @property
    def admin_upn(self) -> str:
        return f"{self.admin_given}{self.admin_surname[0]}@{self.initial_domain}"

    @property
    def admin_name(self) -> str:
        return f"{self.admin_given} {self.admin_surname}"


# Directory role template ids, as the `wids` claim lists them.
# Reference: https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
MEMBER_USER_ROLE = "b79fbf4d-3ef9-4689-8143-76b194e85509"  # every member user holds it
GUEST_USER_ROLE = "10dae51f-b6af-4016-8d66-8c2a99b929b3"

# The first tenant plays the MSP: its admin is also a guest Global Administrator
# of every other tenant (guest or delegated administration), and can sign in
# to any of them by name.
PARTNER_TENANT_INDEX = 0

FIXED_TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        "525b6c55-3da5-4253-a683-5aac155e4a8c",
        "Contoso Ltd",
        "contoso",
        "contoso.com",
        "Megan",
        "Bowen",
        ("Milan HQ", "Rome", "London", "New York"),
    ),
    TenantSpec(
        "801200dd-397e-42a6-aee4-23cdb509ee77",
        "Fabrikam Inc",
        "fabrikam",
        "fabrikam.com",
        "Adele",
        "Vance",
        ("Turin", "Munich", "Paris", "Milan HQ"),
    ),
    TenantSpec(
        "0b5d176c-c411-4c9c-b094-f14d04ba574f",
        "Northwind Traders",
        "northwind",
        "northwindtraders.com",
        "Alex",
        "Wilber",
        ("Seattle", "London", "Madrid"),
    ),
    TenantSpec(
        "3d6ad82f-7da4-4c29-af9b-4d6f3b9d6ba5",
        "Tailspin Toys",
        "tailspin",
        "tailspintoys.com",
        "Lidia",
        "Holloway",
        ("Bologna", "Florence", "Naples"),
    ),
    TenantSpec(
        "78b45564-29ef-4eef-8360-07f26195c8d8",
        "Woodgrove Bank",
        "woodgrove",
        "woodgrovebank.com",
        "Nestor",
        "Wilke",
        ("Zurich", "Frankfurt", "London"),
    ),
    TenantSpec(
        "98ae4614-bc63-453c-8625-afabe62b7e73",
        "Adatum Corporation",
        "adatum",
        "adatum.com",
        "Patti",
        "Fernandez",
        ("Tokyo", "Singapore", "Sydney"),
    ),
)


def tenant_specs(count: int) -> list[TenantSpec]:
    """The first `count` fixed tenants, then generated ones ("Tenant 7", ...)."""
    specs = list(FIXED_TENANTS[:count])
    for n in range(len(FIXED_TENANTS) + 1, count + 1):
        tid = str(uuid.uuid5(SIMNAMESPACE, f"tenant-{n}"))
        specs.append(
            TenantSpec(
                tid, f"Tenant {n}", f"tenant{n}", f"tenant{n}.example", "Sam", "Admin", ("Milan HQ", "Rome")
            )
        )
    return specs


# Office -> (phone prefix pattern, language, name pool). Digits are drawn per user.
CITIES: dict[str, tuple[str, str, str]] = {
    "Milan HQ": ("+39 3## ### ####", "it-IT", "it"),
    "Rome": ("+39 3## ### ####", "it-IT", "it"),
    "Turin": ("+39 3## ### ####", "it-IT", "it"),
    "Bologna": ("+39 3## ### ####", "it-IT", "it"),
    "Florence": ("+39 3## ### ####", "it-IT", "it"),
    "Naples": ("+39 3## ### ####", "it-IT", "it"),
    "London": ("+44 7### ######", "en-GB", "en"),
    "New York": ("+1 212 555 01##", "en-US", "en"),
    "Seattle": ("+1 206 555 01##", "en-US", "en"),
    "Munich": ("+49 15# #######", "de-DE", "de"),
    "Frankfurt": ("+49 15# #######", "de-DE", "de"),
    "Zurich": ("+41 7# ### ## ##", "de-CH", "de"),
    "Paris": ("+33 6 ## ## ## ##", "fr-FR", "fr"),
    "Madrid": ("+34 6## ### ###", "es-ES", "es"),
    "Tokyo": ("+81 90 #### ####", "ja-JP", "ja"),
    "Singapore": ("+65 9### ####", "en-SG", "zh"),
    "Sydney": ("+61 4## ### ###", "en-AU", "en"),
}
# (given names, surnames); CJK pools carry (native, romanized) pairs for the email.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "it": (
        ("Giulia", "Luca", "Niccolò", "Chiara", "Matteo", "Francesca", "Lorenzo", "Sofia", "Andrea", "Zoë"),
        (
            "Rossi",
            "Bianchi",
            "Esposito",
            "Romano",
            "Colombo",
            "Ricci",
            "D'Angelo",
            "Gallo",
            "Conti",
            "Mancini",
        ),
    ),
    "en": (
        ("Oliver", "Amelia", "Jack", "Isla", "Harry", "Emily", "George", "Grace", "Noah", "Chloé"),
        (
            "Smith",
            "Jones",
            "O'Brien",
            "Taylor",
            "Brown",
            "Wilson",
            "Smith-Jones",
            "Evans",
            "Walker",
            "Wright",
        ),
    ),
    "de": (
        ("Jürgen", "Lena", "Lukas", "Anna", "Björn", "Mia", "Felix", "Hanna", "Jonas", "Lea"),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weiß",
            "Gößling",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Schäfer",
        ),
    ),
    "fr": (
        ("Émilie", "François", "Léa", "Théo", "Inès", "Hugo", "Chloé", "Jérôme", "Zoé", "Raphaël"),
        (
            "Martin",
            "Bernard",
            "Dubois",
            "Lefèvre",
            "Moreau",
            "Girard",
            "Bonnet",
            "Faure",
            "Rousseau",
            "Lambert",
        ),
    ),
    "es": (
        ("José", "Lucía", "Martín", "Sofía", "Álvaro", "María", "Iñigo", "Paula", "Hugo", "Elena"),
        (
            "García",
            "Fernández",
            "González",
            "Rodríguez",
            "López",
            "Martínez",
            "Peña",
            "Sánchez",
            "Pérez",
            "Núñez",
        ),
    ),
    "ja": (
        ("花子|hanako", "太郎|taro", "陽菜|hina", "蓮|ren", "結衣|yui", "悠真|yuma"),
        ("佐藤|sato", "鈴木|suzuki", "高橋|takahashi", "田中|tanaka", "伊藤|ito", "渡辺|watanabe"),
    ),
    "zh": (
        ("伟|wei", "娜|na", "芳|fang", "静|jing", "强|qiang", "敏|min"),
        ("王|wang", "李|li", "张|zhang", "刘|liu", "陈|chen", "杨|yang"),
    ),
    "ko": (("민준|minjun", "서연|seoyeon", "지호|jiho"), ("김|kim", "이|lee", "박|park")),
    "nordic": (("Åsa", "Øyvind", "Søren", "Ingrid", "Ástríður"), ("Ødegård", "Lindqvist", "Sæther", "Åberg")),
}
POOLS = tuple(NAMES)
TITLES = (
    "Sales Manager",
    "Account Executive",
    "Software Engineer",
    "Senior Software Engineer",
    "Financial Analyst",
    "HR Business Partner",
    "Operations Coordinator",
    "Marketing Specialist",
    "IT Support Technician",
    "Legal Counsel",
    "Office Manager",
    "Customer Success Manager",
    "Responsabile Amministrativo",
    "Chef de projet",
    "Teamleiter Vertrieb",
)
DEPARTMENTS = (
    "Sales",
    "Engineering",
    "Finance",
    "HR",
    "Operations",
    "Marketing",
    "IT",
    "Legal",
    "Customer Support",
)
SHARED_NAMES = (
    "info",
    "sales",
    "support",
    "reception",
    "accounts",
    "hr",
    "careers",
    "press",
    "orders",
    "helpdesk",
)
GUEST_DOMAINS = ("gmail.com", "outlook.com", "partner.example", "supplier.example")
