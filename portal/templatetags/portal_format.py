"""`{% load portal_format %}`: `{{ moment|when }}` and `{{ run.duration|duration }}` on every page."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.html import format_html

from portal.formatting import duration_text, when_text

register = template.Library()


@register.filter
def when(moment, empty: str = "—"):
    """A <time> element with the moment in the visitor's locale and time zone."""
    if not moment:
        return empty
    return format_html(
        '<time datetime="{}">{}</time>', timezone.localtime(moment).isoformat(), when_text(moment)
    )


@register.filter
def duration(value, empty: str = "—") -> str:
    return duration_text(value, empty)


@register.filter
def when_plain(moment, empty: str = "—") -> str:
    """The same text without markup, where HTML cannot go (an <option>)."""
    return when_text(moment, empty)
