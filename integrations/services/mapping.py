"""The site mapping of a connection (R4): which attribute, which value → which site."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from integrations import mapping_selectors
from integrations.models import AzureConnection, MappingAttribute, SiteMapping, SyncRun
from integrations.values import value_key
from portal.activity import services as activity
from portal.customers.models import Site

if TYPE_CHECKING:
    from integrations.services.runs import Enqueued


class MappingError(Exception):
    """A mapping request that cannot be carried out; the message says why."""


@transaction.atomic
def mapping_set(
    *, connection: AzureConnection, value: str, site: Site | None = None, new_site_name: str | None = None
) -> SiteMapping:
    """Map `value` to `site`, or to a site created with `new_site_name` (reused if it exists)."""
    if not value_key(value):
        raise MappingError(gettext("An empty value cannot be mapped: users without a value are skipped."))
    if site is None:
        name = site_name(new_site_name or "")
        if not name:
            raise MappingError(gettext("Choose a site or give a name for a new one."))
        site = mapping_selectors.site_named(
            customer_id=connection.customer_id, name=name
        ) or Site.objects.create(customer=connection.customer, name=name)
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


def site_name(name: str) -> str:
    """The name a new site gets from a directory value: trimmed, cut to the column."""
    return name.strip()[: Site._meta.get_field("name").max_length]


@dataclass(frozen=True)
class ResolvedMapping:
    """What a set of editor choices means: value key → site id, placeholders for sites to create.

    A site still to be created has a negative placeholder id in `site_by_value`
    and its name in `new_sites`. Existing sites always win over creating one.
    """

    site_by_value: dict[str, int]
    new_sites: dict[int, str]
    unmapped: frozenset[str]  # value keys the choices leave unmapped


def resolve_choices(*, connection: AzureConnection, choices: list[MappingChoice]) -> ResolvedMapping:
    """The one decision of where each chosen value lands, shared by the preview and the save.

    "Create a site" for a value whose site already exists (same name, trimmed,
    case-insensitive) uses that site: a preview and the save that follows can
    never disagree about it, and no site is ever duplicated.
    """
    sites = list(Site.objects.filter(customer=connection.customer).order_by("pk").values_list("pk", "name"))
    own_sites = {pk for pk, _ in sites}
    by_name: dict[str, int] = {}
    for pk, name in sites:
        by_name.setdefault(value_key(name), pk)
    site_by_value: dict[str, int] = {}
    new_sites: dict[int, str] = {}
    unmapped: set[str] = set()
    for choice in choices:
        key = value_key(choice.value)
        if not key:
            continue
        # A key chosen twice (a forged form) takes its last choice, in the preview as in the save.
        site_by_value.pop(key, None)
        unmapped.discard(key)
        if choice.target is None:
            unmapped.add(key)
            continue
        if choice.target == NEW_SITE:
            name = site_name(choice.value)
            site_pk = by_name.get(value_key(name))
            if site_pk is None:
                site_pk = by_name[value_key(name)] = -(len(new_sites) + 1)
                new_sites[site_pk] = name
            site_by_value[key] = site_pk
        elif int(choice.target) in own_sites:
            site_by_value[key] = int(choice.target)
        else:
            raise MappingError(gettext("That site belongs to another customer."))
    used = set(site_by_value.values())
    new_sites = {pk: name for pk, name in new_sites.items() if pk in used}
    return ResolvedMapping(site_by_value=site_by_value, new_sites=new_sites, unmapped=frozenset(unmapped))


def mapping_save(*, connection: AzureConnection, attribute: str, choices: list[MappingChoice]) -> bool:
    """Save the whole mapping editor at once; returns True when it changed anything."""
    changed = attribute != connection.mapping_attribute
    with transaction.atomic():
        attribute_set(connection=connection, attribute=attribute)
        resolved = resolve_choices(connection=connection, choices=choices)
        current = dict(connection.mappings.values_list("value_key", "site_id"))
        created = {
            placeholder: Site.objects.create(customer=connection.customer, name=name)
            for placeholder, name in resolved.new_sites.items()
        }
        sites = {site.pk: site for site in Site.objects.filter(customer=connection.customer)}
        for choice in choices:
            key = value_key(choice.value)
            if key in resolved.unmapped:
                changed |= mapping_remove(connection=connection, value=choice.value)
            elif key in resolved.site_by_value:
                pk = resolved.site_by_value[key]
                site = created[pk] if pk < 0 else sites[pk]
                changed |= current.get(key) != site.pk
                mapping_set(connection=connection, value=choice.value, site=site)
    return changed


@dataclass(frozen=True)
class MappingSaved:
    """What the editor's Save did: whether the mapping changed, and the sync that applies it."""

    changed: bool
    enqueued: Enqueued | None  # None when the sync was refused (`refusal` says why)
    refusal: str = ""


@contextmanager
def mapping_change_recorded(connection: AzureConnection, *, actor: User | None) -> Iterator[None]:
    """Record in the activity log what the block changed in the mapping (nothing if nothing did);
    the pages and `azure_map` (no actor) change it through here."""
    before = activity.mapping_snapshot(connection)
    yield
    activity.mapping_changed(connection, before, actor=actor)


def mapping_save_and_sync(
    *, connection: AzureConnection, attribute: str, choices: list[MappingChoice], actor: User | None
) -> MappingSaved:
    """The mapping editor's Save: the whole mapping at once, recorded in the activity log,
    then a sync to apply it (the first mapping already queued the initial import, R5)."""
    from integrations.services import runs

    with mapping_change_recorded(connection, actor=actor):
        changed = mapping_save(connection=connection, attribute=attribute, choices=choices)
    try:
        enqueued = runs.sync_now(connection=connection, requested_by=actor)
    except runs.SyncNotAllowed as exc:
        return MappingSaved(changed=changed, enqueued=None, refusal=str(exc))
    return MappingSaved(changed=changed, enqueued=enqueued)


def mapping_preview(*, connection: AzureConnection, attribute: str, choices: list[MappingChoice]) -> dict:
    """What saving these choices would make the next sync do: the run's own plan, unsaved.

    Sites are resolved by `resolve_choices`, exactly as `mapping_save` does,
    and planned by the run's `plan_for_connection`; `new_sites` names the
    sites the save would create.
    """
    from integrations.plan_summary import summarize_plan
    from integrations.sync.runner import plan_for_connection

    resolved = resolve_choices(connection=connection, choices=choices)
    plan = plan_for_connection(
        connection, mapping=resolved.site_by_value, attribute=attribute, new_sites=resolved.new_sites
    )
    return {**summarize_plan(plan), "new_sites": sorted(resolved.new_sites.values(), key=str.casefold)}
