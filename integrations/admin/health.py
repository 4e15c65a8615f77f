"""The health page: every connection sorted by urgency, with the action that fixes it.

A custom admin view (`AzureConnectionAdmin.get_urls` + `admin_view`), for
integration staff only; it only reads.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from integrations.admin.base import require_integration_staff
from integrations.health_selectors import connection_health, counts


def health_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    require_integration_staff(request)
    rows = connection_health()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Connection health"),
        "subtitle": None,
        "opts": model_admin.opts,
        "rows": rows,
        "counts": counts(rows),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/integrations/health.html", context)
