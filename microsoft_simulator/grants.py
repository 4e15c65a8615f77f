"""The token endpoint: client authentication and the three grants the portal can use.

* `client_credentials`: app-only Graph token for a tenant that consented,
  with the consented `roles` (none while consent "propagates"); otherwise
  Microsoft's AADSTS700016 `unauthorized_client` error.
* `authorization_code`: single-use code bound to client_id, redirect_uri and
  the PKCE challenge; returns an id_token echoing the /authorize nonce.
* `refresh_token`: what MSAL would send if asked to refresh a user token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509

from .catalog import GLOBAL_ADMINISTRATOR, GUEST_USER_ROLE, MEMBER_USER_ROLE
from .directory import Directory
from .tenants import SimUser
from .tokens import GRAPH_APP_ID, b64url, b64url_decode
from .web import Request, Response, aad_error, json_response

if TYPE_CHECKING:
    from .app import Simulator

MULTI = ("organizations", "common")
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_DEFAULT_SCOPES = ("https://graph.microsoft.com/.default", f"{GRAPH_APP_ID}/.default")
NOT_FOUND_TEXT = (
    "Application with identifier '{client}' was not found in the directory '{directory}'. This can happen if "
    "the application has not been installed by the administrator of the tenant or consented to by any user in "
    "the tenant. You may have sent your authentication request to the wrong tenant."
)
TENANT_TEXT = (
    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
    "correct cloud. Check with your subscription administrator, this may happen if there are no active "
    "subscriptions for the tenant."
)
MISSING_SP_TEXT = "The client application {client} is missing service principal in the tenant {tenant}."
CODE_LIFETIME = 600


def token_request(sim: Simulator, req: Request, tenant: str, directory: Directory | None) -> Response:
    form = req.form()
    basic = req.basic_auth()
    client_id = form.get("client_id") or (basic[0] if basic else "")
    if not client_id:
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    if client_id != sim.state.app.client_id:
        where = directory.spec.name if directory else "Microsoft"
        return aad_error(
            400, "unauthorized_client", 700016, NOT_FOUND_TEXT.format(client=client_id, directory=where)
        )
    failure, method = _authenticate_client(sim, form, basic, client_id)
    if failure is not None:
        return failure
    grant = form.get("grant_type", "")
    if grant == "client_credentials":
        return _client_credentials(sim, form, tenant, directory, client_id, method)
    if grant == "authorization_code":
        return _authorization_code(sim, form, directory, client_id)
    if grant == "refresh_token":
        return _refresh_token(sim, form, client_id)
    return aad_error(
        400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
    )


def _authenticate_client(
    sim: Simulator, form: dict[str, str], basic: tuple[str, str] | None, client_id: str
) -> tuple[Response | None, str]:
    """(error response or None, "1" for a secret / "2" for a certificate) like appidacr."""
    app = sim.state.app
    secret = form.get("client_secret") or (basic[1] if basic else "")
    if secret:
        if hmac.compare_digest(secret.encode(), app.client_secret.encode()):
            return None, "1"
        text = (
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{client_id}'."
        )
        return aad_error(401, "invalid_client", 7000215, text), ""
    assertion = form.get("client_assertion", "")
    if not assertion:
        text = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
        return aad_error(401, "invalid_client", 7000218, text), ""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        return aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type."), ""
    try:
        if app.certificate_pem:
            key = x509.load_pem_x509_certificate(app.certificate_pem).public_key()
            claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"], options={"verify_aud": False})  # type: ignore[arg-type]
        else:
            claims = jwt.decode(assertion, options={"verify_signature": False, "verify_aud": False})
    except jwt.ExpiredSignatureError:
        return aad_error(
            401, "invalid_client", 700024, "Client assertion is not within its valid time range."
        ), ""
    except jwt.InvalidTokenError:
        return aad_error(401, "invalid_client", 700027, "Client assertion failed signature validation."), ""
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        text = "Client assertion application identifier doesn't match 'client_id' parameter."
        return aad_error(401, "invalid_client", 700021, text), ""
    audience = claims.get("aud")
    if not (isinstance(audience, str) and audience.startswith(sim.base_url)):
        return aad_error(401, "invalid_client", 700022, "Client assertion audience claim does not match."), ""
    return None, "2"


def _issue(sim: Simulator, payload: dict[str, Any]) -> Response:
    lifetime = int(sim.state.knobs.knobs.token_lifetime_seconds)
    body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, **payload}
    return json_response(200, body, headers=[("Cache-Control", "no-store"), ("Pragma", "no-cache")])


def _times(sim: Simulator) -> dict[str, int]:
    now = int(time.time())
    return {"iat": now, "nbf": now, "exp": now + int(sim.state.knobs.knobs.token_lifetime_seconds)}


def _client_credentials(
    sim: Simulator,
    form: dict[str, str],
    tenant: str,
    directory: Directory | None,
    client_id: str,
    method: str,
) -> Response:
    if directory is None:
        text = "No tenant-identifying information found in either the request or implied by any provided credentials."
        return aad_error(400, "invalid_request", 50059, text)
    scopes = form.get("scope", "").split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        text = (
            f"The provided value for scope {form.get('scope', '')} is not valid. Client credential flows must have "
            "a scope value with /.default suffixed to the resource identifier (application ID URI)."
        )
        return aad_error(400, "invalid_scope", 1002012, text)
    if scopes[0] not in GRAPH_DEFAULT_SCOPES:
        resource = scopes[0].removesuffix("/.default")
        text = f"The resource principal named {resource} was not found in the tenant named {directory.spec.name}."
        return aad_error(400, "invalid_resource", 500011, text)
    tid = directory.spec.id
    refusal = sim.state.token_refusal(tid)
    if refusal is not None:
        return _refused(refusal, client_id, directory)
    roles = sim.state.roles_for(tid) or ()
    service_principal = str(uuid.uuid5(uuid.UUID(tid), client_id))
    claims: dict[str, Any] = {
        "aud": "https://graph.microsoft.com",
        "iss": f"https://sts.windows.net/{tid}/",
        **_times(sim),
        "app_displayname": sim.state.app.display_name,
        "appid": client_id,
        "appidacr": method,
        "idp": f"https://sts.windows.net/{tid}/",
        "idtyp": "app",
        "oid": service_principal,
        "sub": service_principal,
        "tid": tid,
        "uti": secrets.token_urlsafe(16),
        "ver": "1.0",
    }
    if roles:
        claims["roles"] = list(roles)
    return _issue(sim, {"access_token": sim.signer.sign(claims)})


def _refused(code: int, client_id: str, directory: Directory) -> Response:
    """Entra's answer to client credentials for an app that is not (or no longer) in the tenant."""
    if code == 7000229:
        text = MISSING_SP_TEXT.format(client=client_id, tenant=directory.spec.id)
        return aad_error(400, "invalid_client", 7000229, text)
    return aad_error(
        400,
        "unauthorized_client",
        code,
        NOT_FOUND_TEXT.format(client=client_id, directory=directory.spec.name),
    )


def _authorization_code(
    sim: Simulator, form: dict[str, str], directory: Directory | None, client_id: str
) -> Response:
    code = form.get("code", "")
    with sim.state.lock:
        entry = sim.state.codes.pop(code, None)
        already = code in sim.state.redeemed
        if entry is not None:
            if len(sim.state.redeemed) > 10_000:
                sim.state.redeemed.clear()
            sim.state.redeemed[code] = time.time()
    if entry is None:
        if already:
            text = "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
            return aad_error(400, "invalid_grant", 54005, text + "existing refresh token.")
        return aad_error(
            400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid."
        )
    if time.time() - entry.created_at > CODE_LIFETIME:
        text = "The provided authorization code or refresh token has expired due to inactivity."
        return aad_error(400, "invalid_grant", 70008, text)
    if entry.client_id != client_id or (directory is not None and directory.spec.id != entry.tenant_id):
        text = "Provided Authorization Code is intended to use against other tenant or application, thus rejected."
        return aad_error(400, "invalid_grant", 700005, text)
    if form.get("redirect_uri", "") != entry.redirect_uri:
        text = (
            f"The reply address '{form.get('redirect_uri', '')}' does not match the reply address "
            f"'{entry.redirect_uri}' provided when requesting Authorization code."
        )
        return aad_error(400, "invalid_grant", 500112, text)
    if entry.code_challenge and not pkce_matches(
        form.get("code_verifier", ""), entry.code_challenge, entry.code_challenge_method
    ):
        text = "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE."
        return aad_error(400, "invalid_grant", 501481, text)
    return _user_tokens(
        sim,
        form,
        client_id,
        entry.tenant_id,
        entry.user_id,
        entry.scope,
        entry.nonce,
        home_tenant_id=entry.home_tenant_id or entry.tenant_id,
    )


def _refresh_token(sim: Simulator, form: dict[str, str], client_id: str) -> Response:
    with sim.state.lock:
        entry = sim.state.refresh_tokens.get(form.get("refresh_token", ""))
    if entry is None or entry[0] != client_id:
        return aad_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    _, tenant_id, user_id, scope = entry
    return _user_tokens(sim, form, client_id, tenant_id, user_id, scope, "")


def directory_roles(directory: Directory, home: Directory, user: SimUser) -> list[str]:
    """The role template ids `wids` lists: the tenant's admin and a partner's guest
    administrator are Global Administrators; everyone holds the member (or guest) role."""
    guest = home is not directory
    roles = [GLOBAL_ADMINISTRATOR] if user.id == home.spec.admin_id else []
    return [*roles, GUEST_USER_ROLE if guest else MEMBER_USER_ROLE]


def _tamper(sim: Simulator, claims: dict[str, Any]) -> None:
    """The `id_token_fault` knob: an ID token the portal must refuse."""
    fault = sim.state.knobs.knobs.id_token_fault
    if fault == "wrong_aud":
        claims["aud"] = str(uuid.uuid4())
    elif fault == "foreign_iss":
        claims["iss"] = f"{sim.base_url}/{uuid.uuid4()}/v2.0"
    elif fault == "expired":
        claims.update(iat=claims["iat"] - 86400, nbf=claims["nbf"] - 86400, exp=claims["exp"] - 86400)


def _user_tokens(
    sim: Simulator,
    form: dict[str, str],
    client_id: str,
    tenant_id: str,
    user_id: str,
    scope: str,
    nonce: str,
    *,
    home_tenant_id: str = "",
) -> Response:
    directory = sim.state.directories[tenant_id]
    home = sim.state.directories.get(home_tenant_id or tenant_id, directory)
    user = home.users.get(user_id)
    if user is None or not user.accountEnabled:
        return aad_error(400, "invalid_grant", 50057, "The user account is disabled or was deleted.")
    guest = home is not directory
    # A guest has its own object id in the tenant it visits.
    oid = str(uuid.uuid5(uuid.UUID(tenant_id), user.id)) if guest else user.id
    requested = scope.split()
    resource = [s.removeprefix("https://graph.microsoft.com/") for s in requested if s not in OIDC_SCOPES]
    resource = [s for s in resource if s != ".default"] or ["User.Read"]
    times = _times(sim)
    id_claims: dict[str, Any] = {
        "aud": client_id,
        "iss": f"{sim.base_url}/{tenant_id}/v2.0",
        **times,
        "name": user.displayName,
        "oid": oid,
        "preferred_username": user.userPrincipalName,
        "rh": secrets.token_urlsafe(12),
        "sid": str(uuid.uuid4()),
        "sub": b64url(hashlib.sha256(f"{oid}:{client_id}".encode()).digest()),
        "tid": tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "2.0",
    }
    if guest:
        id_claims["idp"] = f"https://sts.windows.net/{home.spec.id}/"
    if nonce:
        id_claims["nonce"] = nonce
    # Reference: https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference
    if sim.state.knobs.knobs.id_token_wids:
        id_claims["wids"] = directory_roles(directory, home, user)
    _tamper(sim, id_claims)
    if "email" in requested and user.mail:
        id_claims["email"] = user.mail
    access_claims = {
        "aud": GRAPH_APP_ID,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        **times,
        "appid": client_id,
        "idtyp": "user",
        "name": user.displayName,
        "oid": oid,
        "scp": " ".join(resource),
        "sub": id_claims["sub"],
        "tid": tenant_id,
        "upn": user.userPrincipalName,
        "ver": "1.0",
    }
    signed_id_token = sim.signer.sign(id_claims)
    if sim.state.knobs.knobs.id_token_fault == "bad_signature":
        head, body, signature = signed_id_token.split(".")
        flipped = bytes([b64url_decode(signature)[0] ^ 0xFF]) + b64url_decode(signature)[1:]
        signed_id_token = f"{head}.{body}.{b64url(flipped)}"
    payload: dict[str, Any] = {
        "scope": " ".join([s for s in ("openid", "profile", "email") if s in requested] + resource),
        "access_token": sim.signer.sign(access_claims),
        "id_token": signed_id_token,
    }
    if "offline_access" in requested:
        refresh = secrets.token_urlsafe(48)
        with sim.state.lock:
            sim.state.refresh_tokens[refresh] = (client_id, tenant_id, user_id, scope)
        payload["refresh_token"] = refresh
    if form.get("client_info") == "1":
        payload["client_info"] = b64url(json.dumps({"uid": user.id, "utid": home.spec.id}).encode())
    return _issue(sim, payload)


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636: S256 is BASE64URL(SHA256(verifier)); plain compares as is."""
    if method == "plain":
        return hmac.compare_digest(verifier.encode(), challenge.encode())
    digest = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    return hmac.compare_digest(digest.encode(), challenge.encode())
