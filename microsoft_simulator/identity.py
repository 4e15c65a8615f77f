"""Identity platform endpoints: discovery, JWKS, authorize, token, admin consent.

Shaped after what MSAL Python 1.39 reads: discovery must give
`authorization_endpoint` and `token_endpoint` on our own host (MSAL derives
the tenant from the token endpoint's path); the id_token must echo the
`nonce` sent to /authorize (MSAL compares it with its own hash); and
`client_info` (uid/utid) lets MSAL build a home account id.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlparse

from . import pages
from .catalog import PARTNER_TENANT_INDEX
from .directory import Directory
from .grants import MULTI, NOT_FOUND_TEXT, TENANT_TEXT, token_request
from .state import AuthCode, AuthRequest
from .tenants import SimUser
from .web import Request, Response, aad_error, json_response, redirect

if TYPE_CHECKING:
    from .app import Simulator


def handle(sim: Simulator, req: Request) -> Response | None:
    parts = req.path.strip("/").split("/")
    if len(parts) < 2:
        return None
    tenant, rest = parts[0], tuple(parts[1:])
    routes = {
        ("v2.0", ".well-known", "openid-configuration"): _discovery,
        ("discovery", "v2.0", "keys"): _keys,
        ("discovery", "keys"): _keys,
        ("oauth2", "v2.0", "authorize"): _authorize,
        ("oauth2", "v2.0", "token"): _token,
        ("v2.0", "adminconsent"): _admin_consent,
        ("oauth2", "v2.0", "logout"): _logout,
    }
    view = routes.get(rest)
    return None if view is None else view(sim, req, tenant)


def _resolve(sim: Simulator, tenant: str) -> tuple[bool, Directory | None]:
    """(is organizations/common, the tenant's directory if a single known tenant)."""
    if tenant.lower() in MULTI:
        return True, None
    return False, sim.state.tenant(tenant)


def _discovery(sim: Simulator, req: Request, tenant: str) -> Response:
    multi, directory = _resolve(sim, tenant)
    if directory is None and not multi:
        return aad_error(400, "invalid_tenant", 90002, TENANT_TEXT.format(tenant=tenant))
    segment = directory.spec.id if directory is not None else tenant.lower()
    base = f"{sim.base_url}/{segment}"
    issuer_tid = "{tenantid}" if multi else segment
    return json_response(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{sim.base_url}/{issuer_tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{sim.base_url}/oidc/userinfo",
            # MSAL takes this endpoint from discovery as it is (only the authority must be
            # https), so a browser can be sent to the plain-HTTP pages while tokens stay on TLS.
            "authorization_endpoint": f"{sim.browser_base_url or sim.base_url}/{segment}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "preferred_username",
                "name",
                "tid",
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        },
        headers=[("Access-Control-Allow-Origin", "*")],
    )


def _keys(sim: Simulator, req: Request, tenant: str) -> Response:
    return json_response(200, sim.signer.jwks(f"{sim.base_url}/{{tenantid}}/v2.0"))


def _logout(sim: Simulator, req: Request, tenant: str) -> Response:
    target = req.query.get("post_logout_redirect_uri", "")
    return redirect(target) if _is_web_uri(target) else pages.signed_out()


def _is_web_uri(uri: str) -> bool:
    parsed = urlparse(uri)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _append(uri: str, params: dict[str, str], separator: str = "") -> str:
    separator = separator or ("&" if "?" in uri else "?")
    return f"{uri}{separator}{urlencode(params)}"


def _check_app(sim: Simulator, params: dict[str, str], directory_name: str) -> Response | None:
    """Error page for an unknown client_id or an unregistered redirect URI, as /authorize shows them."""
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if client_id != sim.state.app.client_id:
        return pages.error_page(700016, NOT_FOUND_TEXT.format(client=client_id, directory=directory_name))
    registered = sim.state.app.redirect_uris
    if not _is_web_uri(redirect_uri) or (registered and redirect_uri not in registered):
        text = f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
        return pages.error_page(50011, text + f"configured for the application '{client_id}'.")
    return None


def _new_ctx(sim: Simulator, tenant: str, params: dict[str, str], kind: str) -> str:
    ctx = secrets.token_urlsafe(24)
    now = time.time()
    with sim.state.lock:
        if len(sim.state.pending) > 5000:
            for key in [k for k, v in sim.state.pending.items() if now - v.created_at > 3600]:
                del sim.state.pending[key]
        sim.state.pending[ctx] = AuthRequest(tenant, dict(params), now, kind)
    return ctx


def _authorize(sim: Simulator, req: Request, tenant: str) -> Response:
    multi, directory = _resolve(sim, tenant)
    if not multi and directory is None:
        return pages.error_page(90002, TENANT_TEXT.format(tenant=tenant))
    if req.method == "POST":
        return _authorize_post(sim, req, tenant)
    params = dict(req.query)
    problem = _check_app(sim, params, directory.spec.name if directory else "Microsoft")
    if problem is not None:
        return problem
    redirect_uri, state = params["redirect_uri"], params.get("state", "")

    def fail(error: str, code: int, text: str) -> Response:
        return redirect(
            _append(
                redirect_uri,
                {"error": error, "error_description": text and f"AADSTS{code}: {text}", "state": state},
            )
        )

    if params.get("response_type") != "code":
        return fail(
            "unsupported_response_type", 700054, "response_type 'code' is the only one supported here."
        )
    if params.get("code_challenge_method", "S256") not in ("S256", "plain"):
        return fail("invalid_request", 501491, "Invalid code_challenge_method.")
    if params.get("prompt") == "none":
        return fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
    ctx = _new_ctx(sim, tenant, params, "authorize")
    directories = [directory] if directory else list(sim.state.directories.values())
    partner = partner_directory(sim)
    guest = partner if directory is not None and partner is not None and partner is not directory else None
    action = f"/{tenant}/oauth2/v2.0/authorize"
    return pages.account_picker(action, ctx, directories, sim.state.app.display_name, guest_admin_of=guest)


def partner_directory(sim: Simulator) -> Directory | None:
    """The MSP's tenant: its admin is a guest Global Administrator of every other tenant."""
    directories = list(sim.state.directories.values())
    return directories[PARTNER_TENANT_INDEX] if len(directories) > PARTNER_TENANT_INDEX else None


def find_account(
    sim: Simulator, directory: Directory | None, login: str
) -> tuple[SimUser, Directory, Directory] | None:
    """(user, their home tenant, the tenant issuing the token) for a sign-in, or None.

    On `organizations` a member signs in to their home tenant. On a named tenant
    a member of it signs in there; so does the partner's admin, as a guest
    administrator whose token that tenant issues.
    """
    if not login:
        return None
    candidates = [directory] if directory else list(sim.state.directories.values())
    for candidate in candidates:
        found = candidate.find(login)
        if found is not None and found.userType != "Guest":
            return found, candidate, candidate
    partner = partner_directory(sim)
    if directory is not None and partner is not None and partner is not directory:
        found = partner.find(login)
        if found is not None and found.id == partner.spec.admin_id:
            return found, partner, directory
    return None


def _pop_pending(sim: Simulator, ctx: str, kind: str) -> AuthRequest | None:
    with sim.state.lock:
        pending = sim.state.pending.pop(ctx, None)
    return pending if pending is not None and pending.kind == kind else None


def _authorize_post(sim: Simulator, req: Request, tenant: str) -> Response:
    form = req.form()
    pending = _pop_pending(sim, form.get("ctx", ""), "authorize")
    if pending is None:
        return pages.error_page(90014, "The sign-in session has expired or was already used. Start again.")
    params = pending.params
    redirect_uri, state = params["redirect_uri"], params.get("state", "")
    if form.get("cancel"):
        text = "AADSTS65004: User declined to consent to access the app."
        error = {
            "error": "access_denied",
            "error_subcode": "cancel",
            "error_description": text,
            "state": state,
        }
        return redirect(_append(redirect_uri, error))
    _, directory = _resolve(sim, pending.path_tenant)
    login = form.get("login", "").strip().lower()
    account = find_account(sim, directory, login)
    if account is None:
        if directory is not None and any(d.find(login) for d in sim.state.directories.values() if login):
            text = (
                f"User account '{login}' from identity provider does not exist in tenant "
                f"'{directory.spec.name}' and cannot access the application in that tenant."
            )
            return pages.error_page(50020, text)
        return pages.error_page(50034, f"The user account {login} does not exist in the directory.")
    user, home, issuer = account
    if not user.accountEnabled:
        return pages.error_page(50057, "The user account is disabled.")
    code = secrets.token_urlsafe(48)
    with sim.state.lock:
        sim.state.codes[code] = AuthCode(
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            scope=params.get("scope", ""),
            nonce=params.get("nonce", ""),
            code_challenge=params.get("code_challenge", ""),
            code_challenge_method=params.get(
                "code_challenge_method", "S256" if params.get("code_challenge") else ""
            ),
            tenant_id=issuer.spec.id,
            user_id=user.id,
            created_at=time.time(),
            home_tenant_id=home.spec.id,
        )
    result = {"code": code, "state": state, "session_state": str(uuid.uuid4())}
    mode = params.get("response_mode", "query")
    if mode == "form_post":
        return pages.form_post(redirect_uri, result)
    return redirect(_append(redirect_uri, result, "#" if mode == "fragment" else ""))


def _admin_consent(sim: Simulator, req: Request, tenant: str) -> Response:
    multi, directory = _resolve(sim, tenant)
    if not multi and directory is None:
        return pages.error_page(90002, TENANT_TEXT.format(tenant=tenant))
    if req.method == "POST":
        return _admin_consent_post(sim, req)
    params = dict(req.query)
    problem = _check_app(sim, params, directory.spec.name if directory else "Microsoft")
    if problem is not None:
        return problem
    if not params.get("scope"):
        error = {
            "error": "invalid_request",
            "error_description": "AADSTS900144: The request body must contain "
            "the following parameter: 'scope'.",
            "admin_consent": "True",
            "state": params.get("state", ""),
        }
        return redirect(_append(params["redirect_uri"], error))
    ctx = _new_ctx(sim, tenant, params, "consent")
    directories = [directory] if directory else list(sim.state.directories.values())
    roles = _consent_roles(sim, params["scope"])
    action = f"/{tenant}/v2.0/adminconsent"
    return pages.consent_prompt(action, ctx, directories, sim.state.app.display_name, roles)


def _consent_roles(sim: Simulator, scope: str) -> tuple[str, ...]:
    # Application permissions are granted only through `/.default` (the app's configured permissions).
    return sim.state.knobs.knobs.consent_roles if any(s.endswith("/.default") for s in scope.split()) else ()


def _admin_consent_post(sim: Simulator, req: Request) -> Response:
    form = req.form()
    pending = _pop_pending(sim, form.get("ctx", ""), "consent")
    if pending is None:
        return pages.error_page(90014, "The consent session has expired or was already used. Start again.")
    params = pending.params
    decision, _, tenant_id = form.get("decision", "").partition(":")
    multi, directory = _resolve(sim, pending.path_tenant)
    if directory is None:
        directory = sim.state.tenant(tenant_id) if multi else None
    if directory is None or directory.spec.id != tenant_id:
        return pages.error_page(90002, TENANT_TEXT.format(tenant=tenant_id))
    answer = {"admin_consent": "True", "tenant": directory.spec.id}
    if decision == "accept":
        roles = _consent_roles(sim, params["scope"])
        sim.state.apply({"op": "grant_consent", "tenant": directory.spec.id, "roles": list(roles)})
        answer["scope"] = params["scope"]
    else:
        answer["error"] = "access_denied"
        answer["error_subcode"] = "cancel"
        answer["error_description"] = "AADSTS65004: User declined to consent to access the app."
    if "state" in params:
        answer["state"] = params["state"]
    return redirect(_append(params["redirect_uri"], answer))


def _token(sim: Simulator, req: Request, tenant: str) -> Response:
    if req.method != "POST":
        return aad_error(405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
    multi, directory = _resolve(sim, tenant)
    if not multi and directory is None:
        return aad_error(400, "invalid_request", 90002, TENANT_TEXT.format(tenant=tenant))
    return token_request(sim, req, tenant, directory)
