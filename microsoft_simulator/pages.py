"""The HTML the identity platform shows: account picker, consent prompt, errors.

Plain forms that POST back to the same endpoint, so they work in a real
browser (the demo, Playwright) and with plain HTTP clients (see
`testing.sign_in`). Buttons carry `data-login` / `data-tenant` attributes for
browser tests to click.
"""

from __future__ import annotations

import itertools
from html import escape

from .directory import Directory
from .tenants import SimUser
from .web import Response, aad_description, html_response

PERMISSION_LABELS = {
    "User.Read.All": "Read all users' full profiles",
    "MailboxSettings.Read": "Read all user mailbox settings",
}


def account_picker(
    action: str,
    ctx: str,
    directories: list[Directory],
    app_name: str,
    *,
    guest_admin_of: Directory | None = None,
) -> Response:
    """Each tenant's admin, one ordinary user per tenant, the partner's guest administrator
    (on a named tenant), and a field for any other account."""
    buttons = []
    for d in directories:
        buttons.append(_account_button(d.spec.admin_upn, d.spec.admin_name, d, "admin", "admin"))
        user = ordinary_user(d)
        if user is not None:
            buttons.append(_account_button(user.userPrincipalName, user.displayName or "", d, "user", "user"))
    if guest_admin_of is not None:
        d = guest_admin_of
        buttons.append(
            _account_button(d.spec.admin_upn, d.spec.admin_name, d, "guest administrator", "guest-admin")
        )
    body = (
        f"<p>to continue to <b>{escape(app_name)}</b></p>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="ctx" value="{escape(ctx)}">{"".join(buttons)}'
        f'<button type="submit" name="cancel" value="1" data-action="cancel">Cancel</button></form>'
        f'<form method="post" action="{escape(action)}" class="other">'
        f'<input type="hidden" name="ctx" value="{escape(ctx)}">'
        f'<label for="login">Use another account</label>'
        f'<input id="login" name="login" type="email" placeholder="someone@example.com" autocomplete="off">'
        f'<button type="submit" data-action="other-account">Next</button></form>'
    )
    return html_response(200, "Pick an account", body)


def _account_button(upn: str, name: str, d: Directory, label: str, role: str) -> str:
    return (
        f'<button type="submit" name="login" value="{escape(upn)}" data-login="{escape(upn)}" '
        f'data-tenant="{d.spec.id}" data-role="{role}">{escape(name)}'
        f"<small>{escape(upn)} · {escape(d.spec.name)} ({escape(label)})</small></button>"
    )


def ordinary_user(d: Directory) -> SimUser | None:
    """The first enabled member with a mailbox who is not the admin: someone with no role."""
    # tuple() copies atomically: safe against a concurrent mutation.
    for user in itertools.islice(tuple(d.users.values()), 50):
        wanted = user.userType == "Member" and user.accountEnabled and user.purpose == "user"
        if wanted and user.id != d.spec.admin_id and user.mail:
            return user
    return None


def consent_prompt(
    action: str, ctx: str, directories: list[Directory], app_name: str, roles: tuple[str, ...]
) -> Response:
    items = "".join(
        f"<li>{escape(PERMISSION_LABELS.get(r, r))} <small>{escape(r)}</small></li>" for r in roles
    )
    sections = "".join(
        f"<p>Signed in as <b>{escape(d.spec.admin_upn)}</b> · {escape(d.spec.name)}</p>"
        f'<button class="primary" type="submit" name="decision" value="accept:{d.spec.id}" '
        f'data-action="accept" data-tenant="{d.spec.id}">Accept</button>'
        f'<button type="submit" name="decision" value="cancel:{d.spec.id}" '
        f'data-action="cancel" data-tenant="{d.spec.id}">Cancel</button>'
        for d in directories
    )
    body = (
        f"<p><b>{escape(app_name)}</b> (unverified) would like to:</p><ul>{items or '<li>Sign you in</li>'}</ul>"
        f"<p>Accepting grants these permissions for your whole organization.</p>"
        f'<form method="post" action="{escape(action)}"><input type="hidden" name="ctx" value="{escape(ctx)}">'
        f"{sections}</form>"
    )
    return html_response(200, "Permissions requested", body)


def error_page(code: int, text: str, status: int = 400) -> Response:
    description = aad_description(code, text).replace("\r\n", "<br>")
    return html_response(
        status, "Sorry, but we're having trouble signing you in.", f'<p class="error">{description}</p>'
    )


def form_post(redirect_uri: str, params: dict[str, str]) -> Response:
    """response_mode=form_post: a self-submitting form, as Microsoft sends."""
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )
    body = (
        f'<form method="post" action="{escape(redirect_uri)}" id="f">{fields}'
        f'<button class="primary" type="submit">Continue</button></form>'
        f"<script>document.getElementById('f').submit()</script>"
    )
    return html_response(200, "Working...", body)


def signed_out() -> Response:
    return html_response(
        200, "You signed out of your account", "<p>It's a good idea to close all browser windows.</p>"
    )
