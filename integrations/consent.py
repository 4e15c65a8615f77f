"""The safe way to connect a tenant (SPEC.md section 4).

Microsoft documents that the `tenant` returned by the admin-consent redirect
can be forged, so it is never trusted alone:

1. the admin signs in (OpenID Connect, PKCE, `organizations` authority) and
   the tenant id is read from the ID token's `tid`;
2. the admin-consent URL is built for that tid with a single-use `state`
   bound to the session, the user, the customer and the tid (10 minutes);
3. the callback checks `error` first, then the state, then `tenant == tid`,
   then obtains an app-only token for the tid and checks its `tid` and roles.

Both legs come back to one redirect URI; the state tells them apart. Flow
data lives in the session only until its leg returns, then it is removed.
"""

from __future__ import annotations

import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.translation import gettext as _

from integrations.graph import tokens
from integrations.graph.client import organization_name_for_signed_in_user
from integrations.graph.errors import MicrosoftError
from integrations.graph.tokens import GRAPH_SCOPE

SIGNIN_SCOPE = "User.Read"
SIGNIN_KEY = "azure_signin"
CONSENT_KEY = "azure_consent"
STATE_LIFETIME_SECONDS = 600


class ConsentRefused(Exception):
    """The flow stops here; the message is safe to show and nothing was bound."""


@dataclass(frozen=True)
class VerifiedConsent:
    customer_id: int
    tenant_id: str
    organization: str = ""  # read with the admin's delegated token at sign-in, if it could be
    signin_domain: str = ""  # the admin's UPN domain, the last-resort name


def begin_signin(session: SessionBase, *, customer_id: int, user_id: int, redirect_uri: str) -> str:
    """Start the admin's sign-in and return the Microsoft URL to send them to."""
    app = tokens.signin_app()
    # The code comes back in the query string, not by form_post: a cross-site
    # POST would arrive without the (SameSite=Lax) session cookie the state is
    # bound to. PKCE, the nonce and the single-use state protect the code.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
        # User.Read (delegated) lets us read the organization's name once, below.
        flow = app.initiate_auth_code_flow(
            scopes=[SIGNIN_SCOPE], redirect_uri=redirect_uri, prompt="select_account"
        )
    session.pop(CONSENT_KEY, None)
    session[SIGNIN_KEY] = {
        "flow": flow,
        "customer_id": customer_id,
        "user_id": user_id,
        "expires": time.time() + STATE_LIFETIME_SECONDS,
    }
    return flow["auth_uri"]


def leg_of(session: SessionBase, params: dict[str, str]) -> str:
    """'signin', 'consent' or 'unknown': which leg this callback answers."""
    state = params.get("state", "")
    if "admin_consent" in params or "tenant" in params:
        return "consent"
    signin = session.get(SIGNIN_KEY)
    if isinstance(signin, dict) and same_secret(signin["flow"].get("state"), state):
        return "signin"
    consent = session.get(CONSENT_KEY)
    if isinstance(consent, dict) and same_secret(consent.get("state"), state):
        return "consent"
    return "unknown"


def same_secret(expected: object, given: object) -> bool:
    """Constant-time comparison of a stored state with the one that came back.

    Compared as UTF-8 bytes: `secrets.compare_digest` raises on str with
    non-ASCII characters, and anything can come back in a query string.
    """
    if not isinstance(expected, str) or not isinstance(given, str) or not expected or not given:
        return False
    return secrets.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


def finish_signin(session: SessionBase, params: dict[str, str], *, user_id: int, redirect_uri: str) -> str:
    """Redeem the sign-in, learn the tenant from the ID token, return the admin-consent URL."""
    pending = session.pop(SIGNIN_KEY, None)
    if not isinstance(pending, dict):
        raise ConsentRefused(_("This sign-in has expired or was already used. Start again from the portal."))
    if pending["user_id"] != user_id:
        raise ConsentRefused(_("This sign-in was started by another user. Start again from the portal."))
    if pending["expires"] < time.time():
        raise ConsentRefused(_("The sign-in took longer than 10 minutes. Start again from the portal."))
    if "error" in params:
        raise ConsentRefused(_microsoft_refusal(params, _("The sign-in at Microsoft did not complete")))
    app = tokens.signin_app()
    try:
        result = app.acquire_token_by_auth_code_flow(pending["flow"], params)
    except (ValueError, RuntimeError):  # MSAL: state or nonce mismatch, a replayed response
        raise ConsentRefused(_("The sign-in response did not match this session. Start again.")) from None
    except Exception as exc:  # network and server errors of the code redemption
        raise ConsentRefused(_("Microsoft could not be reached to complete the sign-in. Try again.")) from exc
    finally:
        _forget_signed_in_accounts(app)
    if "error" in result:
        error = tokens.msal_error(result, action="complete the sign-in")
        raise ConsentRefused(error.message)
    tenant_id = str((result.get("id_token_claims") or {}).get("tid", "")).lower()
    try:
        tenant_id = tokens.validate_tenant_id(tenant_id)
    except MicrosoftError:
        raise ConsentRefused(_("Microsoft's sign-in did not say which tenant you belong to.")) from None
    state = secrets.token_urlsafe(32)
    username = str((result.get("id_token_claims") or {}).get("preferred_username", ""))
    organization = (
        organization_name_for_signed_in_user(result["access_token"]) if result.get("access_token") else None
    )
    session[CONSENT_KEY] = {
        "organization": organization or "",
        "signin_domain": username.rpartition("@")[2][:200],
        "state": state,
        "customer_id": pending["customer_id"],
        "user_id": user_id,
        "tid": tenant_id,
        "expires": time.time() + STATE_LIFETIME_SECONDS,
    }
    # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent
    query = urlencode(
        {
            "client_id": settings.AZURE_CLIENT_ID,
            "scope": GRAPH_SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{settings.AZURE_AUTHORITY_HOST}/{tenant_id}/v2.0/adminconsent?{query}"


def check_consent(session: SessionBase, params: dict[str, str], *, user_id: int) -> VerifiedConsent:
    """Check the admin-consent redirect; the single-use state is consumed whatever the outcome."""
    pending = session.pop(CONSENT_KEY, None)
    # Error first (even an empty one): Microsoft's error redirects also carry admin_consent=True.
    if "error" in params:
        raise ConsentRefused(_microsoft_refusal(params, _("Admin consent was not granted")))
    if not isinstance(pending, dict) or not same_secret(pending.get("state"), params.get("state")):
        raise ConsentRefused(
            _("This consent response does not belong to your session. Start again from the portal.")
        )
    if pending["user_id"] != user_id:
        raise ConsentRefused(_("This consent was started by another user. Start again from the portal."))
    if pending["expires"] < time.time():
        raise ConsentRefused(_("The consent took longer than 10 minutes. Start again from the portal."))
    if params.get("admin_consent", "").lower() != "true":
        raise ConsentRefused(_("Microsoft did not confirm the admin consent."))
    if params.get("tenant", "").strip().lower() != pending["tid"]:
        raise ConsentRefused(
            _(
                "The consent came back for a different tenant than the one you signed in to. Nothing was connected."
            )
        )
    return VerifiedConsent(
        customer_id=int(pending["customer_id"]),
        tenant_id=pending["tid"],
        organization=pending.get("organization", ""),
        signin_domain=pending.get("signin_domain", ""),
    )


def _microsoft_refusal(params: dict[str, Any], prefix: str) -> str:
    """A short, safe rendering of Microsoft's error redirect."""
    error = str(params.get("error", ""))[:64]
    description = str(params.get("error_description", ""))
    code = description.split(":", 1)[0][:20] if description.startswith("AADSTS") else ""
    if error == "access_denied":
        return _("%(what)s: the administrator declined or cancelled it.") % {"what": prefix}
    detail = " ".join(part for part in (error, code) if part)
    return f"{prefix} ({detail})." if detail else f"{prefix}."


def _forget_signed_in_accounts(app) -> None:
    """The admin's own tokens are not needed after the sign-in: drop them from memory."""
    for account in app.get_accounts():
        app.remove_account(account)
