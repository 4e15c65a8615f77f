"""The admin consent endpoint: Accept records consent, Cancel answers Microsoft's error shape."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from microsoft_simulator.testing import admin_consent_url, app_token, consent
from tests.simulator.helpers import FABRIKAM, NORTHWIND, REDIRECT_URI


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_accept_records_consent_and_redirects_with_tenant_scope_and_state(sim, http):
    url = admin_consent_url(sim, FABRIKAM, REDIRECT_URI, state="s-123")

    callback = consent(http, url, FABRIKAM)

    assert callback.startswith(REDIRECT_URI + "?")
    assert _query(callback) == {
        "admin_consent": "True",
        "tenant": FABRIKAM,
        "scope": "https://graph.microsoft.com/.default",
        "state": "s-123",
    }
    assert app_token(sim, FABRIKAM, http)


def test_cancel_redirects_with_access_denied_aadsts65004_and_admin_consent(sim, http):
    url = admin_consent_url(sim, FABRIKAM, REDIRECT_URI, state="s-9")

    query = _query(consent(http, url, FABRIKAM, accept=False))

    assert query["error"] == "access_denied"
    assert query["error_description"].startswith("AADSTS65004: User declined to consent")
    assert query["admin_consent"] == "True"
    assert query["tenant"] == FABRIKAM
    assert query["state"] == "s-9"
    assert sim.state.roles_for(FABRIKAM) is None


def test_the_consent_page_lists_the_permissions_and_the_signed_in_admin(sim, http):
    page = http.get(admin_consent_url(sim, FABRIKAM, REDIRECT_URI)).text

    assert "User.Read.All" in page
    assert "MailboxSettings.Read" in page
    assert "AdeleV@fabrikam.onmicrosoft.com" in page
    assert 'data-action="accept"' in page
    assert 'data-action="cancel"' in page


def test_organizations_consent_lets_the_visitor_pick_any_tenant(sim, http):
    # The redirect's `tenant` is whatever the visitor picked: why the portal must compare it with the tid.
    url = admin_consent_url(sim, "organizations", REDIRECT_URI, state="s")

    query = _query(consent(http, url, NORTHWIND))

    assert query["tenant"] == NORTHWIND


def test_a_consent_without_default_scope_grants_no_app_roles(sim, http):
    url = admin_consent_url(sim, FABRIKAM, REDIRECT_URI).replace(
        "https%3A%2F%2Fgraph.microsoft.com%2F.default", "https%3A%2F%2Fgraph.microsoft.com%2FUser.Read.All"
    )

    consent(http, url, FABRIKAM)

    assert sim.state.roles_for(FABRIKAM) == ()


def test_an_unknown_client_gets_an_error_page_not_a_redirect(sim, http):
    url = admin_consent_url(sim, FABRIKAM, REDIRECT_URI).replace(sim.client_id, "someone-else")

    response = http.get(url, allow_redirects=False)

    assert response.status_code == 400
    assert "AADSTS700016" in response.text


def test_a_consent_page_cannot_be_submitted_twice(sim, http):
    page = http.get(admin_consent_url(sim, FABRIKAM, REDIRECT_URI))
    ctx = page.text.split('name="ctx" value="')[1].split('"')[0]
    form = {"ctx": ctx, "decision": f"accept:{FABRIKAM}"}
    action = f"{sim.base_url}/{FABRIKAM}/v2.0/adminconsent"

    first = http.post(action, data=form, allow_redirects=False)
    second = http.post(action, data=form, allow_redirects=False)

    assert first.status_code == 302
    assert second.status_code == 400
