"""Pinning a contact's fields (design.md §6.2): the sync leaves a pinned field and shows
what the directory says instead. For the customer's administrators and integration staff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from integrations.models import AzureConnection, DirectoryUser
from integrations.policy_selectors import LABELS
from integrations.services import policies
from integrations.sync.loaders import MIRROR_ATTRIBUTE
from integrations.sync.plan import SITE_FIELD, SYNCED_FIELDS
from integrations.values import value_key
from integrations.views.common import customer_for
from portal.customers.models import Contact
from portal.users import signed_in_user


@login_required
@require_http_methods(["GET", "POST"])
def contact_pins(request: HttpRequest, customer_id: int, contact_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    contact = get_object_or_404(Contact.objects.select_related("site"), pk=contact_id, customer=customer)
    if request.method == "POST":
        try:
            added, removed = policies.contact_pins_set(
                contact=contact, fields=request.POST.getlist("pinned"), actor=signed_in_user(request)
            )
        except policies.PolicyError as exc:
            messages.error(request, str(exc))
        else:
            if added or removed:
                messages.success(request, _("Pinned fields saved: the sync leaves them from the next run."))
            else:
                messages.info(request, _("Nothing changed."))
        return redirect("integrations:contact_pins", customer_id=customer.pk, contact_id=contact.pk)
    pinned = set(contact.pins.values_list("field", flat=True))
    directory = _directory_values(contact)
    rows = [
        {
            "field": name,
            "label": LABELS.get(name, name),
            "local": _local(contact, name),
            "directory": directory.get(name),
            "pinned": name in pinned,
        }
        for name in policies.PINNABLE_FIELDS
    ]
    return render(
        request, "integrations/contact_pins.html", {"customer": customer, "contact": contact, "rows": rows}
    )


def _local(contact: Contact, name: str) -> str:
    if name == SITE_FIELD:
        return contact.site.name if contact.site else ""
    return getattr(contact, name)


def _directory_values(contact: Contact) -> dict[str, str]:
    """What the mirror says for each field (empty when the contact has no directory user)."""
    connection = AzureConnection.objects.filter(customer_id=contact.customer_id).first()
    if connection is None or not contact.azure_object_id:
        return {}
    user = DirectoryUser.objects.filter(
        connection=connection, object_id=contact.azure_object_id, removed=False
    ).first()
    if user is None:
        return {}
    values = {name: getattr(user, attribute) for name, attribute in SYNCED_FIELDS.items()}
    raw = getattr(user, MIRROR_ATTRIBUTE[connection.mapping_attribute])
    site = connection.mappings.select_related("site").filter(value_key=value_key(raw)).first()
    values[SITE_FIELD] = site.site.name if site else ""
    return values
