"""Validation of the admin's ID token and the administrator proof (docs/design.md §4, steps 2 and 3).

MSAL no longer validates ID tokens (it says so since 1.38), so the portal does:
the RS256 signature against the tenant's published keys, `aud`, `iss` for the
token's own `tid`, `exp`/`nbf` with a little leeway, the `nonce`, and that
`tid` is a GUID. Then the `wids` claim must name a role that can grant
tenant-wide admin consent to Graph application permissions.

Reference: https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens
Reference: https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.utils.translation import gettext as _

from integrations.graph.http import build_session

LEEWAY_SECONDS = 300  # clock skew between Entra and this server
JWKS_MAX_AGE_SECONDS = 24 * 3600
# Reference: https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CONSENT_ROLES = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class IdTokenRefused(Exception):
    """The ID token cannot be trusted; the message says why in plain words."""


class NotAnAdministrator(Exception):
    """A valid sign-in by someone who may not grant tenant-wide consent."""

    def __init__(self, username: str, tenant: str) -> None:
        super().__init__(username, tenant)
        self.username = username
        self.tenant = tenant


class RolesClaimMissing(Exception):
    """The token has no `wids` claim at all: the app registration does not emit it."""


@dataclass(frozen=True)
class SignedInAdmin:
    """What the validated ID token says about the person who signed in."""

    tenant_id: str
    username: str
    home_tenant_id: str  # differs from tenant_id for a guest or partner administrator


_jwks_lock = threading.Lock()
_jwks: dict[str, tuple[float, jwt.PyJWKSet]] = {}


def validate(raw: str, *, nonce: str) -> dict[str, Any]:
    """The claims of a trustworthy ID token issued to this app for this sign-in."""
    try:
        header = jwt.get_unverified_header(raw)
        unverified = jwt.decode(raw, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise IdTokenRefused(_("Microsoft's ID token could not be read.")) from None
    tid = str(unverified.get("tid", "")).lower()
    if not _GUID.fullmatch(tid):
        raise IdTokenRefused(_("The ID token does not name the tenant you signed in to."))
    issuer = f"{settings.AZURE_AUTHORITY_HOST}/{tid}/v2.0"
    key = _signing_key(tid, str(header.get("kid", "")))
    try:
        claims = jwt.decode(
            raw,
            key,
            algorithms=["RS256"],
            audience=settings.AZURE_CLIENT_ID,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            # strict_aud: `aud` must be this app alone, not a list that also names others
            # (OpenID Connect Core 3.1.3.7: reject audiences the client does not trust).
            options={"require": ["aud", "iss", "exp", "nbf", "tid"], "strict_aud": True},
        )
    except jwt.InvalidAudienceError:
        raise IdTokenRefused(_("The ID token was issued to another application, not this portal.")) from None
    except jwt.InvalidIssuerError:
        raise IdTokenRefused(
            _("The ID token was not issued by the tenant it names (unexpected issuer).")
        ) from None
    except jwt.ExpiredSignatureError:
        raise IdTokenRefused(_("The ID token has expired. Sign in again.")) from None
    except jwt.ImmatureSignatureError:
        raise IdTokenRefused(_("The ID token is not valid yet; check this server's clock.")) from None
    except jwt.InvalidSignatureError:
        raise IdTokenRefused(_("The ID token's signature is not Microsoft's.")) from None
    except jwt.MissingRequiredClaimError as exc:
        raise IdTokenRefused(_("The ID token lacks the %(claim)s claim.") % {"claim": exc.claim}) from None
    except jwt.InvalidTokenError:
        raise IdTokenRefused(_("Microsoft's ID token is not valid.")) from None
    # MSAL sends the SHA-256 of the flow's nonce to /authorize; the ID token echoes that.
    expected_nonce = hashlib.sha256(nonce.encode("ascii")).hexdigest()
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != expected_nonce:
        raise IdTokenRefused(_("The ID token does not belong to this sign-in (nonce mismatch)."))
    return claims


def require_administrator(claims: dict[str, Any]) -> SignedInAdmin:
    """The admin who signed in, if the token proves a consent-granting directory role."""
    tid = str(claims["tid"]).lower()
    username = str(claims.get("preferred_username") or claims.get("email") or claims.get("oid") or "")[:200]
    wids = claims.get("wids")
    if wids is None:
        raise RolesClaimMissing()
    if not isinstance(wids, list) or not CONSENT_ROLES.intersection(w for w in wids if isinstance(w, str)):
        raise NotAnAdministrator(username, tid)
    home = _home_tenant(claims, tid)
    return SignedInAdmin(tenant_id=tid, username=username, home_tenant_id=home)


def _home_tenant(claims: dict[str, Any], tid: str) -> str:
    """A guest's `idp` names their home tenant's issuer; members have none (or their own)."""
    idp = str(claims.get("idp") or "")
    match = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", idp.lower())
    return match.group(0) if match else tid


def _signing_key(tid: str, kid: str) -> jwt.PyJWK:
    """The tenant's published key `kid`, fetched again once when unknown (key rollover)."""
    # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover
    uri = f"{settings.AZURE_AUTHORITY_HOST}/{tid}/discovery/v2.0/keys"
    for refresh in (False, True):
        keys = _key_set(uri, refresh=refresh)
        for key in keys.keys:
            if key.key_id == kid:
                return key
    raise IdTokenRefused(_("The ID token is signed with a key Microsoft does not publish."))


def _key_set(uri: str, *, refresh: bool) -> jwt.PyJWKSet:
    with _jwks_lock:
        cached = _jwks.get(uri)
    if cached is not None and not refresh and time.monotonic() - cached[0] < JWKS_MAX_AGE_SECONDS:
        return cached[1]
    try:
        response = build_session().get(uri)
        response.raise_for_status()
        keys = jwt.PyJWKSet.from_dict(response.json())
    except (requests.RequestException, ValueError, jwt.PyJWKSetError):
        raise IdTokenRefused(
            _("Microsoft's signing keys could not be read to check the sign-in. Try again.")
        ) from None
    with _jwks_lock:
        _jwks[uri] = (time.monotonic(), keys)
    return keys


def forget_keys() -> None:
    """Drop cached signing keys (tests; settings changes)."""
    with _jwks_lock:
        _jwks.clear()
