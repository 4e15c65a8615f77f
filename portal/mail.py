"""E-mail as one component: every message the portal sends is a template pair
(`emails/<name>_subject.txt`, `emails/<name>.txt`, optionally `emails/<name>.html`)
rendered in the portal's language and sent through the backend `EMAIL_URL` names."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation


def render_email(name: str, context: dict) -> tuple[str, str, str | None]:
    """(subject, text body, HTML body or None) of template `name`."""
    context = {"portal_name": portal_name(), **context}
    subject = " ".join(render_to_string(f"emails/{name}_subject.txt", context).split())
    text = render_to_string(f"emails/{name}.txt", context)
    try:
        html = render_to_string(f"emails/{name}.html", context)
    except TemplateDoesNotExist:
        html = None
    return subject, text, html


def send_email(name: str, *, to: Sequence[str], context: dict, language: str | None = None) -> int:
    """Render and send one message to `to` (no-op without recipients); returns messages sent."""
    recipients = sorted({address for address in to if address})
    if not recipients:
        return 0
    with translation.override(language or settings.LANGUAGE_CODE):
        subject, text, html = render_email(name, context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    if html:
        message.attach_alternative(html, "text/html")
    return message.send()


def portal_name() -> str:
    from django.utils.translation import gettext

    return gettext("MSP Portal")


def absolute_url(path: str) -> str:
    """A link for an e-mail sent without a request (from the worker)."""
    return f"{settings.PORTAL_URL}{path}"
