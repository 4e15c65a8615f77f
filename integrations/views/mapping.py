"""The mapping editor (R4): attribute, each value → a site, a preview before saving."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from integrations import mapping_selectors, selectors
from integrations.models import DirectoryUser, MappingAttribute, SyncRun
from integrations.services import mapping as mapping_service
from integrations.services.mapping import NEW_SITE, MappingChoice, MappingError, MappingSaved
from integrations.views.common import connection_for, customer_for
from portal import query
from portal.users import signed_in_user

UNMAPPED = ""
MAX_ROWS = 5000  # distinct values a form may carry


class MappingQuery(forms.Form):
    """Which attribute the editor shows (portal/query.py: bad values count as absent)."""

    attribute = query.ChoiceParam(choices=MappingAttribute.choices)


@login_required
@require_http_methods(["GET", "POST"])
def mapping_editor(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    connection = connection_for(customer)
    attribute = (
        query.parse_query(MappingQuery, request.POST)["attribute"]
        or query.parse_query(MappingQuery, request.GET)["attribute"]
        or connection.mapping_attribute
    )
    values = mapping_selectors.attribute_values(connection=connection, attribute=attribute)
    same_attribute = attribute == connection.mapping_attribute
    preview = None
    matches = mapping_selectors.exact_site_matches(customer_id=customer.pk, values=[v.value for v in values])
    if request.method == "POST":
        choices = _choices_from(request)
        if request.POST.get("action") == "save":
            try:
                saved = mapping_service.mapping_save_and_sync(
                    connection=connection, attribute=attribute, choices=choices, actor=signed_in_user(request)
                )
            except MappingError as exc:
                messages.error(request, str(exc))
                return redirect("integrations:mapping", customer_id=customer.pk)
            return _after_save(request, connection, saved)
        try:
            preview = mapping_service.mapping_preview(
                connection=connection, attribute=attribute, choices=choices
            )
        except MappingError as exc:
            messages.error(request, str(exc))
            return redirect("integrations:mapping", customer_id=customer.pk)
        selected = {
            choice.value: matches.get(choice.value, NEW_SITE) if choice.target == NEW_SITE else choice.target
            for choice in choices
        }
    else:
        selected = {v.value: (v.site.pk if v.site and same_attribute else UNMAPPED) for v in values}
        # An unmapped value whose site exists by the same name starts on that site.
        for value, site_id in matches.items():
            selected[value] = selected.get(value) or site_id
    reading = selectors.active_run(connection=connection)
    context = {
        "customer": customer,
        "connection": connection,
        "attribute": attribute,
        "attributes": MappingAttribute.choices,
        "rows": [
            {
                "value": v.value,
                "users": v.user_count,
                "selected": str(selected.get(v.value, UNMAPPED) or ""),
                "site_exists": v.value in matches,
            }
            for v in values
        ],
        "sites": customer.sites.order_by("name"),
        "new_site": NEW_SITE,
        "preview": preview,
        "directory_read": DirectoryUser.objects.filter(connection=connection).exists(),
        "reading_run": reading,
    }
    return render(request, "integrations/mapping.html", context)


def _choices_from(request: HttpRequest) -> list[MappingChoice]:
    """One choice per row of the submitted form; each row carries its value, so a
    directory change between showing and saving the form cannot shift choices."""
    try:
        rows = min(int(request.POST.get("rows", "0")), MAX_ROWS)
    except ValueError:
        rows = 0
    choices = []
    for index in range(rows):
        value = request.POST.get(f"value-{index}", "").strip()[:128]
        raw = request.POST.get(f"target-{index}", UNMAPPED)
        if not value or "\x00" in value:
            continue
        if raw == NEW_SITE:
            target: int | str | None = NEW_SITE
        else:
            target = query.parse_id(raw)
        choices.append(MappingChoice(value=value, target=target))
    return choices


def _after_save(request: HttpRequest, connection, saved: MappingSaved) -> HttpResponse:
    """Saving starts the sync (the first mapping already queued the initial import)."""
    result = saved.enqueued
    if result is None:
        messages.warning(request, _("Mapping saved. %(problem)s") % {"problem": saved.refusal})
        return redirect("integrations:manage", customer_id=connection.customer_id)
    if not saved.changed:
        messages.info(
            request, _("The mapping was already like this. %(outcome)s") % {"outcome": result.message}
        )
    elif result.started:
        messages.success(request, _("Mapping saved. %(outcome)s") % {"outcome": result.message})
    elif result.run.trigger == SyncRun.Trigger.INITIAL and not result.run.dry_run:
        # The first mapping itself queued the initial import (R5): that run applies it.
        messages.success(request, _("Mapping saved. The first import has started; follow it below."))
    else:
        messages.success(
            request,
            _(
                "Mapping saved. A sync was already under way; if it began before this change, "
                "click Sync now when it finishes to apply the new mapping at once."
            ),
        )
    if result.run.trigger == SyncRun.Trigger.INITIAL or result.started:
        return redirect("integrations:run", customer_id=connection.customer_id, run_id=result.run.pk)
    return redirect("integrations:manage", customer_id=connection.customer_id)
