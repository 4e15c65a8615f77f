"""Microsoft's side of a whole connect-and-sync, registered on `responses` at
the real URLs: OpenID discovery, the code redemption, app-only tokens, and
Graph's /organization, /users/delta (the baseline and delta rounds), /users
and $batch. Used where the production
MSAL and requests code paths must run end to end without a network."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import responses

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


class Microsoft:
    """One tenant's worth of Microsoft, with knobs for the consent-flow abuse tests."""

    def __init__(self, rsps: responses.RequestsMock, *, signed_in_tid: str = TENANT, users: int = 3) -> None:
        self.rsps = rsps
        self.signed_in_tid = signed_in_tid
        self.nonce = ""
        self.app_roles: list[list[str]] = [["User.Read.All"]]
        self.id_token = ""
        self.delegated_token = ""
        self.access_tokens: list[str] = []
        self.users = [graph_user(n) for n in range(1, users + 1)]
        rsps.get(
            f"{LOGIN}/organizations/v2.0/.well-known/openid-configuration",
            json=openid_configuration("organizations"),
        )
        for tenant in (TENANT, OTHER_TENANT):
            rsps.get(
                f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration",
                json=openid_configuration(tenant, tenant),
            )
            rsps.add_callback(responses.POST, f"{LOGIN}/{tenant}/oauth2/v2.0/token", callback=self._app_token)
        rsps.add_callback(
            responses.POST, f"{LOGIN}/organizations/oauth2/v2.0/token", callback=self._redeem_code
        )
        rsps.get(f"{GRAPH}/organization", json={"value": [{"id": TENANT, "displayName": "Contoso Ltd"}]})
        rsps.add_callback(responses.GET, f"{GRAPH}/users/delta", callback=self._delta)
        rsps.add_callback(responses.GET, f"{GRAPH}/users", callback=self._users)
        rsps.add_callback(responses.POST, f"{GRAPH}/$batch", callback=self._batch)

    def _redeem_code(self, request):
        body = parse_qs(request.body)
        assert body["code"] == [AUTH_CODE]
        assert "code_verifier" in body  # PKCE
        self.id_token = fake_jwt(
            aud=CLIENT_ID,
            iss=f"{LOGIN}/{self.signed_in_tid}/v2.0",
            tid=self.signed_in_tid,
            nonce=self.nonce,
            oid="admin-oid",
            preferred_username="admin@contoso.com",
            roles=None,
        )
        self.delegated_token = fake_jwt(tid=self.signed_in_tid, scp="User.Read", roles=None)
        answer = {
            "token_type": "Bearer",
            "expires_in": 3600,
            "access_token": self.delegated_token,
            "id_token": self.id_token,
            "scope": "openid profile",
        }
        return 200, {}, json.dumps(answer)

    def _app_token(self, request):
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
