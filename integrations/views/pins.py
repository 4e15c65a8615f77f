"""Pinning a contact's fields (design.md §6.2): the sync leaves a pinned field and shows
what the directory says instead. For the customer's administrators and integration staff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from integrations.policy_selectors import LABELS, directory_values
from integrations.services import policies
from integrations.sync.plan import SITE_FIELD
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
    directory = directory_values(contact)
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
