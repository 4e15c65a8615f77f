"""The handful of errors Microsoft can cause, named for what the caller does.

Raw MSAL error dicts and HTTP responses are mapped onto these at the boundary
(`tokens.py`, `client.py`). Messages are safe to show and store: they never
contain a token, a code or a secret.
"""

from __future__ import annotations


class MicrosoftError(Exception):
    """Base class. `code` is Microsoft's error code (AADSTS…, Graph code) if any."""

    kind = "microsoft_error"

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class TransientError(MicrosoftError):
    """Throttling, 5xx or a network failure that outlived our retries: try again later."""

    kind = "transient"


class ConsentRequiredError(MicrosoftError):
    """Admin consent is missing or revoked, or the token lacks User.Read.All: reconnect."""

    kind = "consent_required"


class AppCredentialsError(MicrosoftError):
    """The portal's own app credential is wrong or expired: the MSP must fix its config."""

    kind = "app_credentials"


class TenantNotFoundError(MicrosoftError):
    """The tenant id does not exist (AADSTS90002)."""

    kind = "tenant_not_found"


class PermissionDeniedError(MicrosoftError):
    """Graph answered 403 for an optional read (e.g. mailboxSettings without MailboxSettings.Read)."""

    kind = "permission_denied"


class DeltaExpiredError(MicrosoftError):
    """The stored delta link is no longer valid (400 syncStateNotFound or 410): do a full pass."""

    kind = "delta_expired"


class MalformedResponseError(MicrosoftError):
    """A response we cannot use (bad JSON, wrong shape, foreign next link): fail the run."""

    kind = "malformed_response"


class GraphRequestError(MicrosoftError):
    """Any other 4xx from Graph: a bug or an unexpected state; not retried."""

    kind = "graph_request"
