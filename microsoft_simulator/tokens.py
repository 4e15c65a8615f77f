"""RS256 signing and checking of the simulator's JWTs, and its JWKS.

Real Entra tokens are RS256 JWTs whose key is published at `jwks_uri`, so
the simulator signs the same way: clients that decode claims (tid, roles,
nonce) or verify signatures see what they would see in production.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES = ("https://graph.microsoft.com", GRAPH_APP_ID, "https://graph.microsoft.com/")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """One RSA key: signs tokens, verifies them (with a small cache), publishes the JWKS."""

    def __init__(self, private_key_pem: bytes | None = None) -> None:
        if private_key_pem:
            key = serialization.load_pem_private_key(private_key_pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("the simulator signing key must be an RSA key")
            self._key = key
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = b64url(hashlib.sha1(public_der, usedforsecurity=False).digest())
        self._verified: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})

    def jwks(self, issuer: str) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"use": "sig", "kid": self.kid, "x5t": self.kid, "issuer": issuer})
        return {"keys": [jwk]}

    def verify_graph_token(self, token: str) -> dict[str, Any]:
        """Claims of a Graph access token; raises `jwt.InvalidTokenError` if bad or expired.

        Signature checks are cached per token because a benchmark sends the
        same token hundreds of times; expiry is re-checked on every call.
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=list(GRAPH_AUDIENCES),
                options={"require": ["exp", "tid"], "verify_iss": False},
                leeway=0,
            )
            with self._lock:
                if len(self._verified) > 4096:
                    self._verified.clear()
                self._verified[token] = claims
        elif claims["exp"] <= time.time():
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims
