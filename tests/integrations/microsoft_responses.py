"""Microsoft's side of a whole connect-and-sync, registered on `responses` at
the real URLs: OpenID discovery, the code redemption, app-only tokens, and
Graph's /organization, /users/delta (the baseline and delta rounds), /users
and $batch. Used where the production
MSAL and requests code paths must run end to end without a network."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from integrations import id_token
from tests.integrations.graph_helpers import (
    CLIENT_ID,
    GRAPH,
    LOGIN,
    OTHER_TENANT,
    TENANT,
    fake_jwt,
    graph_user,
    openid_configuration,
)

AUTH_CODE = "0.AUTHCODE-never-stored-anywhere"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
MEMBER_USER_ROLE = "b79fbf4d-3ef9-4689-8143-76b194e85509"
# One RSA key for the whole test run: generating one per test costs ~50 ms each.
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SIGNING_KID = "test-signing-key-1"


def signed_jwt(claims: dict[str, Any], *, key=SIGNING_KEY, kid: str = SIGNING_KID) -> str:
    """A JWT signed RS256 with the key Microsoft (here) publishes at its jwks_uri."""
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})


def jwks() -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(SIGNING_KEY.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": SIGNING_KID, "use": "sig", "kty": "RSA"}]}


class Microsoft:
    """One tenant's worth of Microsoft, with knobs for the consent-flow abuse tests.

    The ID token is signed and shaped as Entra issues it; `wids`, `username`
    and `id_claims` (extra or replaced claims, None to remove one) change it.
    """

    def __init__(self, rsps: responses.RequestsMock, *, signed_in_tid: str = TENANT, users: int = 3) -> None:
        self.rsps = rsps
        self.signed_in_tid = signed_in_tid
        self.nonce = ""
        self.wids: list[str] | None = [GLOBAL_ADMINISTRATOR, MEMBER_USER_ROLE]
        self.username = "admin@contoso.com"
        self.id_claims: dict[str, Any] = {}
        self.verified_domains = ["contoso.com", "contoso.onmicrosoft.com"]
        self.app_roles: list[list[str]] = [["User.Read.All"]]
        self.app_token_errors: list[dict[str, Any]] = []  # answered before any token
        self.id_token = ""
        self.delegated_token = ""
        self.access_tokens: list[str] = []
        self.users = [graph_user(n) for n in range(1, users + 1)]
        id_token.forget_keys()
        rsps.get(
            f"{LOGIN}/organizations/v2.0/.well-known/openid-configuration",
            json=openid_configuration("organizations"),
        )
        rsps.add_callback(
            responses.POST, f"{LOGIN}/organizations/oauth2/v2.0/token", callback=self._redeem_code
        )
        for tenant in (TENANT, OTHER_TENANT):
            rsps.get(
                f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration",
                json=openid_configuration(tenant, tenant),
            )
            rsps.add_callback(responses.POST, f"{LOGIN}/{tenant}/oauth2/v2.0/token", callback=self._token)
            rsps.get(f"{LOGIN}/{tenant}/discovery/v2.0/keys", json=jwks())
        rsps.add_callback(responses.GET, f"{GRAPH}/organization", callback=self._organization)
        rsps.add_callback(responses.GET, f"{GRAPH}/users/delta", callback=self._delta)
        rsps.add_callback(responses.GET, f"{GRAPH}/users", callback=self._users)
        rsps.add_callback(responses.POST, f"{GRAPH}/$batch", callback=self._batch)

    def _token(self, request):
        if parse_qs(request.body).get("grant_type") == ["authorization_code"]:
            return self._redeem_code(request)
        return self._app_token(request)

    def _organization(self, request):
        org = {
            "id": self.signed_in_tid,
            "displayName": "Contoso Ltd",
            "verifiedDomains": [
                {"capabilities": "Email", "isDefault": n == 0, "isInitial": name.endswith(".onmicrosoft.com"),
                 "name": name, "type": "Managed"}
                for n, name in enumerate(self.verified_domains)
            ],
        }  # fmt: skip
        return 200, {}, json.dumps({"value": [org]})

    def _redeem_code(self, request):
        body = parse_qs(request.body)
        assert body["code"] == [AUTH_CODE]
        assert "code_verifier" in body  # PKCE
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": CLIENT_ID,
            "iss": f"{LOGIN}/{self.signed_in_tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": self.signed_in_tid,
            "nonce": self.nonce,
            "oid": "5d3c2b1a-0f9e-4d8c-b7a6-958473625140",
            "sub": "admin-subject",
            "preferred_username": self.username,
            "ver": "2.0",
        }
        if self.wids is not None:
            claims["wids"] = self.wids
        claims.update(self.id_claims)
        self.id_token = signed_jwt({k: v for k, v in claims.items() if v is not None})
        self.delegated_token = fake_jwt(tid=self.signed_in_tid, scp="User.Read", roles=None)
        answer = {
            "token_type": "Bearer",
            "expires_in": 3600,
            "access_token": self.delegated_token,
            "id_token": self.id_token,
            "scope": "openid profile User.Read",
        }
        return 200, {}, json.dumps(answer)

    def _app_token(self, request):
        if self.app_token_errors:
            return 400, {}, json.dumps(self.app_token_errors.pop(0))
        tenant = request.url.split("/")[3]
        roles = self.app_roles.pop(0) if len(self.app_roles) > 1 else self.app_roles[0]
        token = fake_jwt(tid=tenant, roles=roles)
        self.access_tokens.append(token)
        return 200, {}, json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": token})

    def _delta(self, request):
        # The full pass's baseline ($deltaToken=latest) and later rounds: no changes here.
        token = "t1" if "deltatoken=latest" in request.url.lower() else "t2"
        return (
            200,
            {},
            json.dumps({"value": [], "@odata.deltaLink": f"{GRAPH}/users/delta?$deltatoken={token}"}),
        )

    def _users(self, request):
        return 200, {}, json.dumps({"value": self.users})

    def _batch(self, request):
        requests_ = json.loads(request.body)["requests"]
        answers = [
            {"id": r["id"], "status": 200, "headers": {}, "body": {"value": "shared"}} for r in requests_
        ]
        return 200, {}, json.dumps({"responses": answers})
