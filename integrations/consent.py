"""The safe way to connect a tenant (docs/design.md §4).

Microsoft documents that the `tenant` returned by the admin-consent redirect
can be forged and that a consent outlives a disconnect, so a tenant is bound
only to someone who proved at sign-in to administer it, after they confirmed
which customer gets it:

1. sign-in (OpenID Connect, PKCE, `organizations` or a named tenant);
2. the ID token is validated and its `wids` must name a consent-granting role
   (`id_token.py`);
3. a confirmation page names tenant and customer; its POST issues the
   single-use consent `state` bound to session, user, customer and tid;
4. the callback checks `error`, then the state, then `tenant == tid`; the
   caller then proves app-only access before saving anything.

Each step's data lives in the session only until its 10 minutes run out or
the step completes; a callback whose state matches nothing consumes nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from integrations import id_token
from integrations.graph import tokens
from integrations.graph.tokens import GRAPH_SCOPE
from integrations.tenant_profile import read_signed_in_tenant

SIGNIN_SCOPE = "User.Read"
SIGNIN_KEY = "azure_signin"
CONFIRM_KEY = "azure_confirm"
CONSENT_KEY = "azure_consent"
DONE_KEY = "azure_consent_done"
FLOW_KEYS = (SIGNIN_KEY, CONFIRM_KEY, CONSENT_KEY, DONE_KEY)
STATE_LIFETIME_SECONDS = 600
_CODE = re.compile(r"[A-Za-z0-9_]{1,40}")
_AADSTS = re.compile(r"AADSTS\d{1,9}")


class ConsentRefused(Exception):
    """The flow stops here; the message is safe to show and nothing was bound.

    `title` heads the page, `code` is Microsoft's error code (shown, never its
    description), `retry_customer_id` offers "Try again" for that customer.
    """

    def __init__(
        self,
        message: str,
        *,
        title: str = "",
        code: str = "",
        retry_customer_id: int | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title
        self.code = code
        self.retry_customer_id = retry_customer_id


@dataclass(frozen=True)
class VerifiedConsent:
    customer_id: int
    tenant_id: str
    tenant_name: str


def purge_expired(session: SessionBase, now: float | None = None) -> None:
    """Forget abandoned flows: nothing of a flow outlives its 10 minutes."""
    now = time.time() if now is None else now
    for key in FLOW_KEYS:
        value = session.get(key)
        if key in session and (not isinstance(value, dict) or float(value.get("expires", 0)) < now):
            del session[key]


def clear(session: SessionBase) -> None:
    for key in FLOW_KEYS:
        session.pop(key, None)


def begin_signin(
    session: SessionBase, *, customer_id: int, user_id: int, redirect_uri: str, tenant: str = ""
) -> str:
    """Start the admin's sign-in and return the Microsoft URL to send them to.

    `tenant` (a domain or tenant id) signs in on that tenant's authority, so a
    guest or partner administrator gets a token issued by the customer's tenant.
    """
    authority = tokens.validate_tenant_id(tenant) if tenant else tokens.SIGNIN_AUTHORITY
    app = tokens.signin_app(authority)
    # The code comes back in the query string, not by form_post: a cross-site
    # POST would arrive without the (SameSite=Lax) session cookie the state is
    # bound to. PKCE, the nonce and the single-use state protect the code.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
        flow = app.initiate_auth_code_flow(
            scopes=[SIGNIN_SCOPE], redirect_uri=redirect_uri, prompt="select_account"
        )
    clear(session)  # a new start replaces this session's earlier flow
    session[SIGNIN_KEY] = {
        "flow": flow,
        "authority": authority,
        "customer_id": customer_id,
        "user_id": user_id,
        "expires": time.time() + STATE_LIFETIME_SECONDS,
    }
    return flow["auth_uri"]


def leg_of(session: SessionBase, params: dict[str, str]) -> str:
    """'signin', 'consent', 'done' or 'unknown': which flow of this session the state names."""
    state = params.get("state", "")
    signin = session.get(SIGNIN_KEY)
    if isinstance(signin, dict) and same_secret(signin["flow"].get("state"), state):
        return "signin"
    pending = session.get(CONSENT_KEY)
    if isinstance(pending, dict) and same_secret(pending.get("state"), state):
        return "consent"
    done = session.get(DONE_KEY)
    if isinstance(done, dict) and same_secret(done.get("state_hash"), _digest(state)):
        return "done"
    return "unknown"


def same_secret(expected: object, given: object) -> bool:
    """Constant-time comparison of a stored secret with the one that came back.

    Compared as UTF-8 bytes: `secrets.compare_digest` raises on str with
    non-ASCII characters, and anything can come back in a query string.
    """
    if not isinstance(expected, str) or not isinstance(given, str) or not expected or not given:
        return False
    return secrets.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


def finish_signin(session: SessionBase, params: dict[str, str], *, user_id: int | None) -> dict[str, Any]:
    """Redeem the sign-in, prove the administrator, and keep what the confirmation shows."""
    pending = session.pop(SIGNIN_KEY)  # leg_of matched its state: single use from here
    customer_id = int(pending["customer_id"])
    if pending["user_id"] != user_id:
        raise ConsentRefused(_("This sign-in was started by another user. Start again from the portal."))
    if pending["expires"] < time.time():
        raise ConsentRefused(
            _("The sign-in took longer than 10 minutes. Start again."), retry_customer_id=customer_id
        )
    if "error" in params:
        raise microsoft_refusal(params, _("The sign-in at Microsoft did not complete."), customer_id)
    flow = pending["flow"]
    app = tokens.signin_app(pending.get("authority") or tokens.SIGNIN_AUTHORITY)
    try:
        result = app.acquire_token_by_auth_code_flow(flow, params)
    except (ValueError, RuntimeError):  # MSAL: state or nonce mismatch, a replayed response
        raise ConsentRefused(_("The sign-in response did not match this session. Start again.")) from None
    except Exception as exc:  # network and server errors of the code redemption
        raise ConsentRefused(
            _("Microsoft could not be reached to complete the sign-in. Try again."),
            retry_customer_id=customer_id,
        ) from exc
    if "error" in result:
        error = tokens.msal_error(result, action="complete the sign-in")
        raise ConsentRefused(
            _("Microsoft would not complete the sign-in."), code=error.code, retry_customer_id=customer_id
        )
    admin = _prove_administrator(str(result.get("id_token") or ""), flow.get("nonce", ""))
    # The delegated token reads the tenant's name and domains once, then is dropped.
    profile = read_signed_in_tenant(result["access_token"]) if result.get("access_token") else None
    result.clear()
    confirmation = {
        "token": secrets.token_urlsafe(32),
        "customer_id": customer_id,
        "user_id": user_id,
        "tid": admin.tenant_id,
        # A guest's username names their home tenant's domain: never a fallback name then.
        "tenant_name": (profile.name if profile else "")
        or ("" if admin.home_tenant_id != admin.tenant_id else admin.username.rpartition("@")[2]),
        "domains": list(profile.domains) if profile else [],
        "username": admin.username,
        "guest": admin.home_tenant_id != admin.tenant_id,
        "expires": time.time() + STATE_LIFETIME_SECONDS,
    }
    session[CONFIRM_KEY] = confirmation
    return confirmation


def _prove_administrator(raw_id_token: str, nonce: str) -> id_token.SignedInAdmin:
    try:
        return id_token.require_administrator(id_token.validate(raw_id_token, nonce=nonce))
    except id_token.IdTokenRefused as exc:
        raise ConsentRefused(str(exc), title=_("The sign-in could not be trusted")) from None
    except id_token.NotAnAdministrator as exc:
        raise ConsentRefused(
            _(
                "You signed in as %(user)s, who is not an administrator of tenant %(tenant)s. "
                "Ask a Global Administrator (or Privileged Role Administrator) of that tenant "
                "to connect it."
            )
            % {"user": exc.username or _("an unnamed account"), "tenant": exc.tenant},
            title=_("Not an administrator of this tenant"),
        ) from None
    except id_token.RolesClaimMissing:
        raise ConsentRefused(
            _(
                "Microsoft's sign-in did not say which directory roles you hold, so the portal cannot "
                "tell whether you are an administrator. The portal's app registration must emit the "
                "'wids' claim: in Entra, App registrations › the portal › Token configuration › "
                "Add groups claim › Directory roles. Ask the portal's operator to set it."
            ),
            title=_("The app registration does not send directory roles"),
        ) from None


def pending_confirmation(session: SessionBase, *, user_id: int) -> dict[str, Any] | None:
    """The confirmation waiting for this user in this session, if it is still valid."""
    purge_expired(session)
    confirmation = session.get(CONFIRM_KEY)
    if isinstance(confirmation, dict) and confirmation.get("user_id") == user_id:
        return confirmation
    return None


def _take_confirmation(session: SessionBase, form: dict[str, str], *, user_id: int) -> dict[str, Any]:
    """The confirmation the form's hidden fields name, removed from the session (single use)."""
    confirmation = pending_confirmation(session, user_id=user_id)
    if (
        confirmation is None
        or not same_secret(confirmation.get("token"), form.get("flow", ""))
        or str(confirmation["customer_id"]) != form.get("customer", "")
        or confirmation["tid"] != form.get("tenant", "")
    ):
        # Nothing is consumed: a stale tab or a forged form cannot cancel the real flow.
        raise ConsentRefused(
            _(
                "This confirmation is not the one waiting in your session (it expired, was already "
                "used, or belongs to another sign-in). Nothing was connected."
            )
        )
    del session[CONFIRM_KEY]
    return confirmation


def confirm(
    session: SessionBase,
    form: dict[str, str],
    *,
    user_id: int,
    redirect_uri: str,
    vet: Callable[[dict[str, Any]], None] | None = None,
) -> str:
    """Issue the single-use consent state and return the admin-consent URL for the tid.

    `vet` sees the confirmation once it is proved to be this session's (so a forged
    form learns nothing from it) and may still refuse it by raising ConsentRefused.
    """
    confirmation = _take_confirmation(session, form, user_id=user_id)
    if vet is not None:
        vet(confirmation)
    state = secrets.token_urlsafe(32)
    session[CONSENT_KEY] = {
        "state": state,
        "customer_id": confirmation["customer_id"],
        "user_id": user_id,
        "tid": confirmation["tid"],
        "tenant_name": confirmation["tenant_name"],
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
    # A browser page: AZURE_BROWSER_AUTHORITY_HOST (the same host in production; the
    # demo's simulator serves its browser pages where no certificate warning shows).
    return f"{settings.AZURE_BROWSER_AUTHORITY_HOST}/{confirmation['tid']}/v2.0/adminconsent?{query}"


def cancel(session: SessionBase, form: dict[str, str], *, user_id: int) -> int:
    """Drop the confirmation the form names; returns its customer id."""
    return int(_take_confirmation(session, form, user_id=user_id)["customer_id"])


def check_consent(session: SessionBase, params: dict[str, str], *, user_id: int | None) -> VerifiedConsent:
    """Check the admin-consent redirect whose state leg_of matched; the state is spent."""
    pending = session.pop(CONSENT_KEY)
    customer_id = int(pending["customer_id"])
    # Error first (even an empty one): Microsoft's error redirects also carry admin_consent=True.
    if "error" in params:
        raise microsoft_refusal(params, _("Admin consent was not granted."), customer_id)
    if pending["user_id"] != user_id:
        raise ConsentRefused(_("This consent was started by another user. Start again from the portal."))
    if pending["expires"] < time.time():
        raise ConsentRefused(
            _("The consent took longer than 10 minutes. Start again."), retry_customer_id=customer_id
        )
    if params.get("admin_consent", "").lower() != "true":
        raise ConsentRefused(_("Microsoft did not confirm the admin consent."), retry_customer_id=customer_id)
    if params.get("tenant", "").strip().lower() != pending["tid"]:
        raise ConsentRefused(
            _(
                "The consent came back for a different tenant than the one you signed in to and "
                "confirmed. Nothing was connected."
            )
        )
    session[DONE_KEY] = {
        "state_hash": _digest(params["state"]),
        "customer_id": customer_id,
        "tid": pending["tid"],
        "user_id": user_id,
        "expires": time.time() + STATE_LIFETIME_SECONDS,
    }
    return VerifiedConsent(
        customer_id=customer_id, tenant_id=pending["tid"], tenant_name=pending.get("tenant_name", "")
    )


def forget_done(session: SessionBase) -> None:
    """The connection was not made after all: a repeated redirect must not say it was."""
    session.pop(DONE_KEY, None)


def completed(session: SessionBase, *, user_id: int | None) -> dict[str, Any] | None:
    """The flow this session completed a moment ago (a repeated Accept lands here)."""
    done = session.get(DONE_KEY)
    return done if isinstance(done, dict) and done.get("user_id") == user_id else None


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest() if state else ""


# Microsoft's error redirects, in our own words; the description is never shown.
# Reference: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
_KNOWN_CODES = {
    "AADSTS65004": gettext_noop("The administrator declined or cancelled the request at Microsoft."),
    "AADSTS65001": gettext_noop("The consent was not granted."),
    "AADSTS90094": gettext_noop(
        "This needs an administrator's approval; sign in with a Global Administrator."
    ),
    "AADSTS90008": gettext_noop(
        "This needs an administrator's approval; sign in with a Global Administrator."
    ),
    "AADSTS50020": gettext_noop(
        "The account you chose does not exist in that tenant; pick an account of the tenant."
    ),
    "AADSTS90002": gettext_noop("Microsoft does not know that tenant; check the domain or tenant id."),
    "AADSTS50011": gettext_noop(
        "The portal's redirect address is not registered on its app: the portal's "
        "operator must fix the app registration."
    ),
    "AADSTS700016": gettext_noop("The portal's app is not known in that tenant."),
    "AADSTS50105": gettext_noop("Your account is not assigned to the portal's app in that tenant."),
    "AADSTS50076": gettext_noop("Microsoft asked for multi-factor authentication that was not completed."),
}
_KNOWN_ERRORS = {
    "access_denied": gettext_noop("The administrator declined or cancelled the request at Microsoft."),
    "consent_required": gettext_noop("The consent was not granted."),
    "login_required": gettext_noop("Microsoft needs you to sign in again."),
    "interaction_required": gettext_noop("Microsoft needs you to sign in again."),
    "temporarily_unavailable": gettext_noop(
        "Microsoft is temporarily unavailable. Try again in a few minutes."
    ),
    "server_error": gettext_noop("Microsoft had an internal error. Try again in a few minutes."),
    "invalid_request": gettext_noop("Microsoft refused the request as malformed."),
}


# The error codes OAuth 2.0 (RFC 6749 4.1.2.1) and OpenID Connect (Core 3.1.2.6) define.
_STANDARD_ERRORS = frozenset(_KNOWN_ERRORS) | {
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "invalid_client",
    "invalid_grant",
    "account_selection_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
}


def microsoft_refusal(
    params: dict[str, Any], prefix: str, customer_id: int | None = None, *, from_flow: bool = True
) -> ConsentRefused:
    """Microsoft's error redirect as a refusal: our words for known codes, the code shown.

    Without `from_flow` (no state of this session: anyone could have written the link) an
    `error` word is shown only if the standards define it, so a crafted link cannot put its
    own text ("call_0800_..._to_unlock") on the portal's page.
    """
    error = str(params.get("error", ""))
    codes = _AADSTS.findall(str(params.get("error_description", ""))[:2000])
    aadsts = codes[0] if codes else ""
    words = (
        _KNOWN_CODES.get(aadsts) or _KNOWN_ERRORS.get(error) or gettext_noop("Microsoft returned an error.")
    )
    showable = _CODE.fullmatch(error) and (from_flow or error in _STANDARD_ERRORS)
    shown = " ".join(c for c in (error if showable else "", aadsts) if c)
    return ConsentRefused(
        f"{prefix} {_(words)}",
        code=shown or _("no code given"),
        retry_customer_id=customer_id,
    )
