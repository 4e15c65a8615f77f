"""Query-string parsing for every page and export: Django form fields, leniently.

A filter in the URL is a hint, not a command: a value that does not parse
(`?run=¹`, a 30-digit id, a NUL byte, 31 February) is treated as absent,
so hostile or stale links show the unfiltered page instead of an error.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.http import QueryDict

# Database ids are signed 64-bit integers on both databases.
MAX_ID = 2**63 - 1
# Dates far from today overflow once combined with a time zone; nobody filters on them.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9000, 12, 31)


class TextParam(forms.CharField):
    """Free text, cut to `limit` characters (not refused); NUL bytes make it absent."""

    def __init__(self, *, limit: int = 200, **kwargs: Any) -> None:
        self.limit = limit
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> str:
        return (super().to_python(value) or "")[: self.limit]


class IdParam(forms.IntegerField):
    """A database id: a positive integer that fits in a bigint."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, min_value=1, max_value=MAX_ID, **kwargs)


class PageParam(forms.IntegerField):
    """A page number; Paginator.get_page then clamps it to the pages there are."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, min_value=1, max_value=MAX_ID, **kwargs)


class DateParam(forms.DateField):
    """An ISO date (YYYY-MM-DD) within years a time zone can shift safely."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, input_formats=["%Y-%m-%d"], **kwargs)

    def validate(self, value: date | None) -> None:
        super().validate(value)
        if value is not None and not (MIN_DATE <= value <= MAX_DATE):
            raise forms.ValidationError("out of range", code="out_of_range")


class ChoiceParam(forms.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)


def parse_query(form_class: type[forms.Form], data: QueryDict) -> dict[str, Any]:
    """Every field of the form: its cleaned value, or its empty value when invalid."""
    form = form_class(data)
    form.is_valid()
    values = {}
    for name, field in form.fields.items():
        if name in form.cleaned_data:
            values[name] = form.cleaned_data[name]
        else:
            values[name] = field.to_python(None)  # "" for text and choices, None otherwise
    return values


def parse_id(raw: str | None) -> int | None:
    """One id outside a form (e.g. a form's numbered rows); None when it is not one."""
    try:
        return IdParam().clean(raw)
    except forms.ValidationError:
        return None
