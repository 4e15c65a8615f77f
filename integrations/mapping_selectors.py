"""Reads of a connection's site mapping (R4): the directory's values to map, and the
customer's sites they match. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from integrations.models import AzureConnection, DirectoryUser
from integrations.sync.loaders import MIRROR_ATTRIBUTE
from integrations.values import value_key
from portal.customers.models import Site


@dataclass(frozen=True)
class AttributeValue:
    """One distinct value of the mapping attribute in the tenant."""

    key: str
    value: str  # the most common spelling
    user_count: int
    site: Site | None


def attribute_values(*, connection: AzureConnection, attribute: str | None = None) -> list[AttributeValue]:
    """Distinct values in the mirror (trimmed, case-insensitive) with user counts, busiest first."""
    column = MIRROR_ATTRIBUTE[attribute or connection.mapping_attribute]
    rows = (
        DirectoryUser.objects.filter(connection=connection, removed=False)
        .exclude(user_type__iexact="guest")
        .values(column)
        .annotate(users=Count("id"))
        .order_by()
    )
    counts: dict[str, int] = {}
    spellings: dict[str, tuple[int, str]] = {}
    for row in rows:
        raw, users = row[column], row["users"]
        key = value_key(raw)
        if not key:
            continue
        counts[key] = counts.get(key, 0) + users
        if key not in spellings or users > spellings[key][0]:
            spellings[key] = (users, raw.strip())
    sites = {m.value_key: m.site for m in connection.mappings.select_related("site")}
    values = [
        AttributeValue(key=key, value=spellings[key][1], user_count=count, site=sites.get(key))
        for key, count in counts.items()
    ]
    return sorted(values, key=lambda v: (-v.user_count, v.key))


def site_named(*, customer_id: int, name: str) -> Site | None:
    """The customer's site called `name`, compared like mapped values (trimmed, case-insensitive)."""
    key = value_key(name)
    for site in Site.objects.filter(customer_id=customer_id).order_by("pk"):
        if value_key(site.name) == key:
            return site
    return None


def exact_site_matches(*, customer_id: int, values: list[str]) -> dict[str, int]:
    """Value → id of the customer's site with the same name (trimmed, case-insensitive)."""
    by_name: dict[str, int] = {}
    for pk, name in Site.objects.filter(customer_id=customer_id).order_by("pk").values_list("pk", "name"):
        by_name.setdefault(value_key(name), pk)
    return {value: by_name[value_key(value)] for value in values if value_key(value) in by_name}
