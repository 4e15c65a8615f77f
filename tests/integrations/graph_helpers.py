"""Realistic Microsoft answers for the Graph boundary tests: fake JWTs, OpenID
discovery documents, token responses and Graph user records."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import responses

from integrations.graph.models import AccessToken

LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com/v1.0"
TENANT = "0b8f2c4e-1d2a-4c3b-9e8f-6a7b5c4d3e2f"
OTHER_TENANT = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
CLIENT_ID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
CLIENT_SECRET = "Qm8Q~s3cr3t-value-never-shown"
USER_READ_ALL = "User.Read.All"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fake_jwt(**claims: Any) -> str:
    """An app-only Graph access token shaped like Entra's (header.payload.signature)."""
    now = int(time.time())
    tid = claims.get("tid", TENANT)
    payload = {
        "aud": "https://graph.microsoft.com",
        "iss": f"https://sts.windows.net/{tid}/",
        "iat": now,
        "nbf": now,
        "exp": now + 3599,
        "app_displayname": "MSP Portal",
        "appid": CLIENT_ID,
        "idtyp": "app",
        "oid": "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
        "roles": [USER_READ_ALL, "MailboxSettings.Read"],
        "sub": "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
        "tid": tid,
        "ver": "1.0",
        **claims,
    }
    payload = {key: value for key, value in payload.items() if value is not None}
    header = {"typ": "JWT", "nonce": "abc", "alg": "RS256", "x5t": "kid-1", "kid": "kid-1"}
    return ".".join(
        [
            _b64url(json.dumps(header).encode()),
            _b64url(json.dumps(payload).encode()),
            _b64url(b"not-a-real-signature"),
        ]
    )


def app_token(
    *, roles: tuple[str, ...] = (USER_READ_ALL,), expires_in: float = 3600, tag: str = "a"
) -> AccessToken:
    """An AccessToken as `tokens.get_app_token` returns it, for GraphClient tests."""
    return AccessToken(
        token=fake_jwt(roles=list(roles), uti=tag),
        tenant_id=TENANT,
        roles=frozenset(roles),
        expires_at=time.time() + expires_in,
    )


class TokenRecorder:
    """A `token_getter` that hands out fresh tokens and records each call."""

    def __init__(self, *, roles: tuple[str, ...] = (USER_READ_ALL,), expires_in: float = 3600) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.issued: list[AccessToken] = []
        self.roles = roles
        self.expires_in = expires_in

    def __call__(self, tenant_id: str, *, force_refresh: bool = False) -> AccessToken:
        self.calls.append((tenant_id, force_refresh))
        token = app_token(roles=self.roles, expires_in=self.expires_in, tag=str(len(self.calls)))
        self.issued.append(token)
        return token


def openid_configuration(tenant_path: str, tenant_guid: str | None = None) -> dict[str, Any]:
    """The v2.0 OpenID discovery document Entra serves for `/{tenant_path}`."""
    endpoint_tenant = tenant_guid or tenant_path
    issuer_tenant = tenant_guid or "{tenantid}"
    base = f"{LOGIN}/{endpoint_tenant}"
    return {
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
        "issuer": f"{LOGIN}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver"],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def discovery_url(tenant_path: str) -> str:
    return f"{LOGIN}/{tenant_path}/v2.0/.well-known/openid-configuration"


def token_url(tenant: str = TENANT) -> str:
    return f"{LOGIN}/{tenant}/oauth2/v2.0/token"


def add_discovery(
    rsps: responses.RequestsMock, tenant_path: str = TENANT, tenant_guid: str | None = None
) -> None:
    rsps.get(discovery_url(tenant_path), json=openid_configuration(tenant_path, tenant_guid))


def token_body(**claims: Any) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": fake_jwt(**claims),
    }


def aad_error(error: str, code: int | None, text: str, *, with_codes: bool = True) -> dict[str, Any]:
    """An Entra token-endpoint error body; the AADSTS code sits in the description and `error_codes`."""
    description = f"AADSTS{code}: {text}" if code else text
    body: dict[str, Any] = {
        "error": error,
        "error_description": (
            f"{description}\r\nTrace ID: 0f1e2d3c-0000-4000-8000-000000000001\r\n"
            "Correlation ID: 0f1e2d3c-0000-4000-8000-000000000002\r\nTimestamp: 2025-01-15 09:30:00Z"
        ),
        "timestamp": "2025-01-15 09:30:00Z",
        "trace_id": "0f1e2d3c-0000-4000-8000-000000000001",
        "correlation_id": "0f1e2d3c-0000-4000-8000-000000000002",
    }
    if code and with_codes:
        body["error_codes"] = [code]
        body["error_uri"] = f"{LOGIN}/error?code={code}"
    return body


def graph_user(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A `/users` record with every selected property, as Graph sends it."""
    record = {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "displayName": f"User {n}",
        "givenName": "Ada",
        "surname": "Lovelace",
        "jobTitle": "Engineer",
        "mobilePhone": "+39 333 000 0000",
        "mail": f"user{n}@contoso.com",
        "userPrincipalName": f"user{n}@contoso.com",
        "officeLocation": "Milan HQ",
        "department": "R&D",
        "accountEnabled": True,
        "userType": "Member",
        "assignedLicenses": [{"disabledPlans": [], "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df"}],
    }
    record.update(overrides)
    return record


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2025-01-15T09:30:00",
                "request-id": "5a4b3c2d-0000-4000-8000-000000000003",
                "client-request-id": "5a4b3c2d-0000-4000-8000-000000000003",
            },
        }
    }
