"""Audit rows for the portal's own pages (the contact page), readable like the audit log."""

from __future__ import annotations

from django import template

from integrations.audit_format import field_label, initial_values
from integrations.models import FieldChange

register = template.Library()

HISTORY_ROWS = 50


@register.simple_tag
def contact_history(contact) -> list[dict]:
    """The newest audit rows of one contact (the caller has already scoped the contact to the visitor)."""
    changes = FieldChange.objects.filter(contact=contact, customer_id=contact.customer_id).order_by(
        "-changed_at", "-id"
    )[:HISTORY_ROWS]
    return [
        {
            "change": change,
            "label": field_label(change.field),
            "created": change.field == FieldChange.CREATED,
            "initial": initial_values(change.new_value, with_email=False)
            if change.field == FieldChange.CREATED
            else [],
        }
        for change in changes
    ]
