"""App-only Graph tokens through MSAL: one app per tenant per process, tokens in memory only.

Building a `ConfidentialClientApplication` costs a discovery request and each
app owns its token cache, so apps are built once per tenant and reused; tokens
never leave process memory (rule R2). MSAL results and exceptions are mapped
here onto `errors.py`, so callers only ever see those classes.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.conf import settings
from msal.exceptions import MsalServiceError

from integrations.graph.errors import (
    AppCredentialsError,
    ConsentRequiredError,
    MalformedResponseError,
    MicrosoftError,
    TenantNotFoundError,
    TransientError,
    token_error_meaning,
)
from integrations.graph.http import shared_session
from integrations.graph.models import AccessToken
from portal.log_redaction import redact

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
REQUIRED_ROLE = "User.Read.All"
# Application permissions that read every user, narrowest first: User.Read.All is what
# the sync needs; the others include it (the ReadWrite ones grant more than it needs).
# Reference: https://learn.microsoft.com/en-us/graph/api/user-list?view=graph-rest-1.0
READ_ROLES = ("User.Read.All", "Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
MAILBOX_ROLES = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
SIGNIN_AUTHORITY = "organizations"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_AADSTS = re.compile(r"AADSTS\d+")

# What the person reading the error should do, before Microsoft's own words.
_ADVICE: dict[type[MicrosoftError], str] = {
    ConsentRequiredError: "The portal's app is missing from this tenant or its admin consent was revoked: "
    "a tenant administrator must consent again",
    AppCredentialsError: "Microsoft rejected the portal's app credentials (AZURE_CLIENT_SECRET or certificate): "
    "the MSP must renew them",
    TenantNotFoundError: "Microsoft does not know this tenant",
}
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


@dataclass(slots=True)
class _CachedApp:
    app: msal.ConfidentialClientApplication
    # MSAL replays a recent 400 for 60 s (429/5xx for their Retry-After) from
    # this cache; a forced refresh right after consent must reach Entra.
    http_cache: dict[str, Any] = field(default_factory=dict)


class _DiscardingTokenCache(msal.TokenCache):  # type: ignore[misc]  # msal ships no type hints
    """Stores nothing. The sign-in only needs the ID token's claims, and the shared,
    long-lived sign-in app would otherwise keep every admin's refresh token (R2)."""

    def add(self, event: dict[str, Any], now: float | None = None) -> None:
        return None


_lock = threading.Lock()
_apps: dict[tuple[str, ...], _CachedApp] = {}
# Sign-in apps are keyed by whatever tenant a permitted user types (a guest
# administrator names the customer's tenant): keep only the most recent ones.
MAX_SIGNIN_APPS = 64


def validate_tenant_id(tenant_id: str) -> str:
    """The tenant id, lowercased, if it is a GUID or a domain; it becomes a URL path segment."""
    candidate = tenant_id.strip().lower() if isinstance(tenant_id, str) else ""
    if _GUID.fullmatch(candidate) or _DOMAIN.fullmatch(candidate):
        return candidate
    raise TenantNotFoundError("The tenant id must be a GUID or a domain name.", code="invalid_tenant_id")


def get_app_token(tenant_id: str, *, force_refresh: bool = False) -> AccessToken:
    """An app-only Graph token for the tenant, from MSAL's memory cache when still valid.

    `force_refresh` drops cached tokens first: a fresh consent can take a while
    to show up in tokens, and a 401 from Graph means the cached one is stale.
    """
    tenant = validate_tenant_id(tenant_id)
    cached = _cached_app(("tenant", tenant), f"{settings.AZURE_AUTHORITY_HOST}/{tenant}", TenantNotFoundError)
    if force_refresh:
        cached.app.remove_tokens_for_client()
        cached.http_cache.clear()
    try:
        # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
        result = cached.app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"Cannot reach Microsoft Entra ID for a token ({type(exc).__name__}).") from None
    except MsalServiceError:
        raise TransientError("Microsoft Entra ID answered the token request with a server error.") from None
    except ValueError:  # MSAL's json.loads of a body that is not JSON (a proxy or gateway page)
        raise TransientError("Microsoft Entra ID answered the token request with a non-JSON body.") from None
    if not isinstance(result, Mapping) or "access_token" not in result:
        raise msal_error(result if isinstance(result, Mapping) else {}, action="issue an app-only token")
    return _access_token(result, tenant, cached.app)


def require_role(token: AccessToken, role: str | None = None) -> str:
    """The permission that lets the token read users (`role` if given, else the narrowest
    of READ_ROLES it carries); ConsentRequiredError if it carries none."""
    wanted = (role,) if role else READ_ROLES
    granted = next((name for name in wanted if name in token.roles), None)
    if granted is None:
        raise ConsentRequiredError(
            f"The app has no {' or '.join(wanted)} application permission in tenant {token.tenant_id}: "
            "a tenant administrator must grant admin consent again.",
            code="missing_role",
        )
    return granted


def read_permission(token: AccessToken) -> str:
    """The narrowest permission of READ_ROLES the token carries ("" if none)."""
    return next((name for name in READ_ROLES if name in token.roles), "")


def can_read_mailbox_settings(token: AccessToken) -> bool:
    """Whether the token's `roles` claim grants MailboxSettings.Read (or ReadWrite)."""
    return any(name in token.roles for name in MAILBOX_ROLES)


def forget_tenant(tenant_id: str) -> None:
    """Drop the tenant's MSAL app and with it every token cached for the tenant (disconnect)."""
    tenant = tenant_id.strip().lower() if isinstance(tenant_id, str) else ""
    with _lock:
        for key in [key for key in _apps if key[:2] == ("tenant", tenant)]:
            del _apps[key]


def reset_token_cache() -> None:
    """Forget every MSAL app and token (tests; settings changes)."""
    with _lock:
        _apps.clear()


def signin_app(tenant: str = SIGNIN_AUTHORITY) -> msal.ConfidentialClientApplication:
    """The MSAL app for the admin's OpenID Connect sign-in: on `organizations`, or on a
    named tenant (a domain or GUID) so a guest administrator gets that tenant's token."""
    tenant = SIGNIN_AUTHORITY if tenant == SIGNIN_AUTHORITY else validate_tenant_id(tenant)
    authority = f"{settings.AZURE_AUTHORITY_HOST}/{tenant}"
    unknown = AppCredentialsError if tenant == SIGNIN_AUTHORITY else TenantNotFoundError
    return _cached_app(("signin", tenant), authority, unknown, token_cache=_DiscardingTokenCache()).app


def msal_error(result: Mapping[str, Any], *, action: str = "complete the request") -> MicrosoftError:
    """Map an MSAL error result onto our exception classes (also for the consent flow).

    AADSTS codes come both as `error_codes` (ints) and inside `error_description`.
    """
    error = str(result.get("error") or "")
    description = str(result.get("error_description") or "")
    codes = {f"AADSTS{code}" for code in result.get("error_codes") or () if isinstance(code, int)}
    codes.update(_AADSTS.findall(description))
    detail = redact(description.splitlines()[0] if description else error or "no error given")[:300]
    message = f"Microsoft Entra ID would not {action}: {detail}"
    fallback = sorted(codes)[0] if codes else error
    # The documented table first: 7000229 comes as `invalid_client` yet means "consent again".
    for code in sorted(codes):
        meaning = token_error_meaning(int(code.removeprefix("AADSTS")))
        if meaning is not None and meaning.error is not None:
            cls = meaning.error
            return cls(f"{_ADVICE[cls]} ({message})" if cls in _ADVICE else message, code=code)
    if error == "unauthorized_client" or (error == "invalid_client" and "consent" in description.lower()):
        return ConsentRequiredError(f"{_ADVICE[ConsentRequiredError]} ({message})", code=fallback)
    if error == "invalid_client":
        return AppCredentialsError(f"{_ADVICE[AppCredentialsError]} ({message})", code=fallback)
    if error == "invalid_tenant":
        return TenantNotFoundError(f"{_ADVICE[TenantNotFoundError]} ({message})", code=fallback)
    if error in _TRANSIENT_ERRORS:
        return TransientError(message, code=fallback)
    return MicrosoftError(message, code=fallback)


def _cached_app(
    key: tuple[str, ...],
    authority: str,
    unknown_authority: type[MicrosoftError],
    *,
    token_cache: msal.TokenCache | None = None,
) -> _CachedApp:
    # Keyed by host and client id too, so a settings change never reuses a stale app.
    full_key = (*key, settings.AZURE_AUTHORITY_HOST, settings.AZURE_CLIENT_ID)
    with _lock:
        cached = _apps.get(full_key)
    if cached is not None:
        return cached
    # Built outside the lock: discovery is network I/O and must not block other tenants.
    built = _build_app(authority, unknown_authority, token_cache)
    with _lock:
        cached = _apps.setdefault(full_key, built)
        if key[0] == "signin":
            _forget_oldest_signin_apps()
        return cached


def _forget_oldest_signin_apps() -> None:
    """Drop the oldest sign-in apps beyond MAX_SIGNIN_APPS (dicts keep insertion order)."""
    signin_keys = [key for key in _apps if key[0] == "signin"]
    for key in signin_keys[: max(0, len(signin_keys) - MAX_SIGNIN_APPS)]:
        del _apps[key]


def _build_app(
    authority: str, unknown_authority: type[MicrosoftError], token_cache: msal.TokenCache | None
) -> _CachedApp:
    if not settings.AZURE_CLIENT_ID:
        raise AppCredentialsError("AZURE_CLIENT_ID is not set.", code="missing_client_id")
    credential = _client_credential()
    http_cache: dict[str, Any] = {}
    try:
        # Reference: https://learn.microsoft.com/en-us/python/api/msal/msal.application.confidentialclientapplication
        app = msal.ConfidentialClientApplication(
            settings.AZURE_CLIENT_ID,
            client_credential=credential,
            authority=authority,
            instance_discovery=False,
            http_client=shared_session(),
            http_cache=http_cache,
            token_cache=token_cache,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(
            f"Cannot reach Microsoft Entra ID for discovery ({type(exc).__name__})."
        ) from None
    except MsalServiceError:
        raise TransientError("Microsoft Entra ID discovery answered with a server error.") from None
    except ValueError as exc:
        if "authority configuration" in str(exc):  # MSAL's wording when OIDC discovery answers 4xx
            raise unknown_authority(
                "Microsoft Entra ID does not know this tenant (OpenID discovery failed).", code="AADSTS90002"
            ) from None
        raise AppCredentialsError(
            "MSAL rejected the app configuration.", code="invalid_configuration"
        ) from None
    return _CachedApp(app=app, http_cache=http_cache)


def _client_credential() -> str | dict[str, str]:
    """The certificate when configured (preferred over a secret), else the client secret."""
    if settings.AZURE_CLIENT_CERTIFICATE_PATH:
        return _certificate_credential(Path(settings.AZURE_CLIENT_CERTIFICATE_PATH))
    if settings.AZURE_CLIENT_SECRET:
        return str(settings.AZURE_CLIENT_SECRET)
    raise AppCredentialsError(
        "Neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set.", code="missing_credential"
    )


def _certificate_credential(path: Path) -> dict[str, str]:
    """MSAL's certificate credential from one PEM holding the certificate and its private key."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise AppCredentialsError(
            f"Cannot read AZURE_CLIENT_CERTIFICATE_PATH ({exc.strerror}).", code="certificate_unreadable"
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise AppCredentialsError(
            "AZURE_CLIENT_CERTIFICATE_PATH must be a PEM file with the certificate and its "
            "unencrypted private key.",
            code="certificate_invalid",
        ) from None
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*public) != key.public_key().public_bytes(*public):
        raise AppCredentialsError(
            "The private key does not belong to the certificate.", code="certificate_invalid"
        )
    if certificate.not_valid_after_utc <= datetime.now(UTC):
        raise AppCredentialsError(
            f"The app certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}.",
            code="certificate_expired",
        )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Entra's x5t is the certificate's SHA-1 thumbprint by definition; not a security hash here.
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    return {"private_key": key_pem.decode("ascii"), "thumbprint": thumbprint}


def _access_token(
    result: Mapping[str, Any], tenant: str, app: msal.ConfidentialClientApplication
) -> AccessToken:
    raw = result["access_token"]
    if not isinstance(raw, str) or not raw:
        raise MalformedResponseError(
            "Microsoft Entra ID returned an empty access token.", code="invalid_token"
        )
    claims = _unverified_claims(raw)
    # A domain-named tenant is checked against the GUID its discovery document names.
    expected = tenant if _GUID.fullmatch(tenant) else str(app.authority.tenant or "").lower()
    tid = claims.get("tid")
    if not isinstance(tid, str) or not _GUID.fullmatch(expected) or tid.lower() != expected:
        # Not ConsentRequiredError: consenting again cannot fix a token minted for another
        # tenant; it means a misrouted authority, and the run must stop rather than loop.
        raise MalformedResponseError(
            f"The token Microsoft Entra ID issued is not for tenant {tenant}.", code="tenant_mismatch"
        )
    roles = claims.get("roles")
    expires_in = result.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = time.time() + float(expires_in)
    elif isinstance(claims.get("exp"), int | float):
        expires_at = float(claims["exp"])
    else:
        raise MalformedResponseError("The token carries no expiry.", code="invalid_token")
    return AccessToken(
        token=raw,
        tenant_id=tid.lower(),
        roles=frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset(),
        expires_at=expires_at,
    )


def _unverified_claims(token: str) -> dict[str, Any]:
    """The JWT payload, read without checking the signature.

    The token came straight from Entra over TLS and only Graph (which verifies
    it) consumes it; we read `tid` and `roles` only to fail early and clearly.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedResponseError("The access token is not a JWT.", code="invalid_token")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except ValueError:
        raise MalformedResponseError(
            "The access token payload is not readable.", code="invalid_token"
        ) from None
    if not isinstance(claims, dict):
        raise MalformedResponseError("The access token payload is not an object.", code="invalid_token")
    return claims
