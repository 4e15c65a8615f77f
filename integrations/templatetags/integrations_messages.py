"""`{{ stored|shown }}`: a stored message (`reasons.Message`) in the reader's language;
`{{ field|field_label }}`: a contact field's audit label ("job_title" reads "Job title")."""

from __future__ import annotations

from django import template

from integrations import reasons
from integrations.audit_format import field_label as audit_field_label

register = template.Library()


@register.filter
def shown(stored: object) -> str:
    return reasons.shown(stored)


@register.filter
def field_label(field: str) -> str:
    return audit_field_label(field)
