"""One way to show dates and durations on every page (the visitor's locale and time zone)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext


def when_text(moment: datetime | None, empty: str = "—") -> str:
    """A moment in the active time zone, in the active locale's DATETIME_FORMAT."""
    if moment is None:
        return empty
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def duration_text(duration: timedelta | None, empty: str = "—") -> str:
    """Sub-second under a minute ("0.8 s", "12.4 s"; "0,8 s" in Italian), then minutes and hours ("2 min 05 s")."""
    if duration is None:
        return empty
    seconds = max(duration.total_seconds(), 0.0)
    if seconds < 60:
        return gettext("%(seconds)s s") % {"seconds": number_format(seconds, decimal_pos=1)}
    whole = int(seconds)
    minutes, rest = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return gettext("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}
