"""The steps of the connect flow as a browser takes them, through the Django test
client, against Microsoft on `responses` (see microsoft_responses.py)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlparse

from django.test import Client
from django.urls import reverse

from integrations.models import AzureConnection
from tests.integrations.microsoft_responses import AUTH_CODE, Microsoft

CONNECT_CALLBACK = "http://testserver/integrations/azure/callback/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlparse(url).query).items()}


def start(client: Client, customer, *, tenant: str = "", authority: str = "organizations") -> dict[str, str]:
    """POST Import from Azure AD; return the sign-in request's query."""
    data = {"tenant": tenant} if tenant else {}
    response = client.post(reverse("integrations:connect", args=[customer.pk]), data)
    assert response.status_code == 302, response.content
    url = urlparse(response["Location"])
    assert url.path == f"/{authority}/oauth2/v2.0/authorize"
    return query_of(response["Location"])


def return_from_sign_in(client: Client, query: dict[str, str], microsoft: Microsoft):
    """Microsoft redirects back with a code for the sign-in `query` started."""
    microsoft.nonce = query["nonce"]
    return client.get(reverse("integrations:callback"), {"code": AUTH_CODE, "state": query["state"]})


def sign_in(client: Client, customer, microsoft: Microsoft, **start_kwargs) -> dict[str, str]:
    """Complete the sign-in leg; return the hidden fields of the confirmation form."""
    query = start(client, customer, **start_kwargs)
    assert query["code_challenge_method"] == "S256"
    response = return_from_sign_in(client, query, microsoft)
    assert response.status_code == 302, response.content
    assert response["Location"] == reverse("integrations:confirm")
    return confirmation_fields(client.get(reverse("integrations:confirm")))


def confirmation_fields(page) -> dict[str, str]:
    """The hidden fields of the Confirm form on the confirmation page."""
    assert page.status_code == 200, page.content
    html = page.content.decode()
    form = re.search(r'<form method="post" action="/integrations/azure/confirm/">(.*?)</form>', html, re.S)
    assert form is not None, html
    return {
        name: unescape(value)
        for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form.group(1))
        if name != "csrfmiddlewaretoken"
    }


def confirm(client: Client, fields: dict[str, str], microsoft: Microsoft) -> dict[str, str]:
    """POST Confirm; return the admin-consent request's query."""
    response = client.post(reverse("integrations:confirm"), fields)
    assert response.status_code == 302, response.content
    url = urlparse(response["Location"])
    assert url.path == f"/{microsoft.signed_in_tid}/v2.0/adminconsent"
    consent_query = query_of(response["Location"])
    assert consent_query["scope"] == "https://graph.microsoft.com/.default"
    assert consent_query["redirect_uri"] == CONNECT_CALLBACK
    return consent_query


def sign_in_and_confirm(client: Client, customer, microsoft: Microsoft, **start_kwargs) -> dict[str, str]:
    return confirm(client, sign_in(client, customer, microsoft, **start_kwargs), microsoft)


def consent_callback(client: Client, **params):
    return client.get(reverse("integrations:callback"), params)


def refused(response, text: str) -> str:
    """Assert a refusal page saying `text` and no connection at all; return the page."""
    assert response.status_code in (400, 403, 404), response.status_code
    body = unescape(response.content.decode())
    assert text in body, re.findall(r'role="alert">([^<]*)', body)
    assert not AzureConnection.objects.exists()
    return body
