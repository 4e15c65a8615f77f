"""`{{ stored|shown }}`: a stored message (`reasons.Message`) in the reader's language."""

from __future__ import annotations

from django import template

from integrations import reasons

register = template.Library()


@register.filter
def shown(stored: object) -> str:
    return reasons.shown(stored)
