"""The site mapping of a connection (R4): which attribute, which value → which site."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext

from integrations.models import AzureConnection, DirectoryUser, MappingAttribute, SiteMapping, SyncRun
from integrations.sync.loaders import MIRROR_ATTRIBUTE
from integrations.sync.values import value_key
from portal.customers.models import Site


class MappingError(Exception):
    """A mapping request that cannot be carried out; the message says why."""


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


@transaction.atomic
def mapping_set(
    *, connection: AzureConnection, value: str, site: Site | None = None, new_site_name: str | None = None
) -> SiteMapping:
    """Map `value` to `site`, or to a site created with `new_site_name` (reused if it exists)."""
    if not value_key(value):
        raise MappingError(gettext("An empty value cannot be mapped: users without a value are skipped."))
    if site is None:
        name = (new_site_name or "").strip()
        if not name:
            raise MappingError(gettext("Choose a site or give a name for a new one."))
        site, _ = Site.objects.get_or_create(customer=connection.customer, name=name[:200])
    if site.customer_id != connection.customer_id:
        raise MappingError(gettext("That site belongs to another customer."))
    first = not connection.mappings.exists()
    mapping, _ = SiteMapping.objects.update_or_create(
        connection=connection, value_key=value_key(value), defaults={"value": value.strip(), "site": site}
    )
    if first:
        _start_initial_import(connection)
    return mapping


def _start_initial_import(connection: AzureConnection) -> None:
    """The first mapping of a new connection starts the initial import (R5)."""
    from integrations.services.runs import run_enqueue

    if not connection.customer.azure_sync_available:
        return
    if SyncRun.objects.filter(connection=connection, status=SyncRun.Status.SUCCEEDED, dry_run=False).exists():
        return
    AzureConnection.objects.filter(pk=connection.pk, next_sync_at__isnull=True).update(
        next_sync_at=timezone.now()
    )
    run_enqueue(connection=connection, trigger=SyncRun.Trigger.INITIAL)


def mapping_remove(*, connection: AzureConnection, value: str) -> bool:
    """Unmap a value; contacts already placed stay where they are (R8)."""
    deleted, _ = SiteMapping.objects.filter(connection=connection, value_key=value_key(value)).delete()
    return bool(deleted)


def attribute_set(*, connection: AzureConnection, attribute: str) -> None:
    """Switch between office and department; the old value mapping no longer applies."""
    if attribute not in MappingAttribute.values:
        raise MappingError(
            gettext("Unknown attribute %(attribute)r; use officeLocation or department.")
            % {"attribute": attribute}
        )
    if attribute == connection.mapping_attribute:
        return
    with transaction.atomic():
        connection.mappings.all().delete()
        connection.mapping_attribute = attribute
        connection.save(update_fields=["mapping_attribute"])


NEW_SITE = "__new__"


@dataclass(frozen=True)
class MappingChoice:
    """What the editor chose for one value: a site id, NEW_SITE, or None (leave unmapped)."""

    value: str
    target: int | str | None


def mapping_save(*, connection: AzureConnection, attribute: str, choices: list[MappingChoice]) -> bool:
    """Save the whole mapping editor at once; returns True when it changed anything."""
    changed = attribute != connection.mapping_attribute
    with transaction.atomic():
        attribute_set(connection=connection, attribute=attribute)
        current = dict(connection.mappings.values_list("value_key", "site_id"))
        sites = {site.pk: site for site in Site.objects.filter(customer=connection.customer)}
        for choice in choices:
            key = value_key(choice.value)
            if choice.target is None:
                changed |= mapping_remove(connection=connection, value=choice.value)
            elif choice.target == NEW_SITE:
                mapping = mapping_set(connection=connection, value=choice.value, new_site_name=choice.value)
                changed |= current.get(key) != mapping.site_id
            else:
                site = sites.get(int(choice.target))
                if site is None:
                    raise MappingError(gettext("That site belongs to another customer."))
                changed |= current.get(key) != site.pk
                mapping_set(connection=connection, value=choice.value, site=site)
    return changed


def proposed_mapping(
    *, connection: AzureConnection, choices: list[MappingChoice]
) -> tuple[dict[str, int], dict[int, str]]:
    """The value → site map a preview plans with, without saving anything.

    Sites still to be created get placeholder (negative) ids; returns the map
    and the placeholder names, so the preview can name them.
    """
    sites = set(Site.objects.filter(customer=connection.customer).values_list("pk", flat=True))
    proposed: dict[str, int] = {}
    new_sites: dict[int, str] = {}
    for choice in choices:
        if choice.target is None:
            continue
        if choice.target == NEW_SITE:
            placeholder = -(len(new_sites) + 1)
            new_sites[placeholder] = f"{choice.value.strip()} (new)"
            proposed[value_key(choice.value)] = placeholder
        elif int(choice.target) in sites:
            proposed[value_key(choice.value)] = int(choice.target)
    return proposed, new_sites
