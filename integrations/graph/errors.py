"""The handful of errors Microsoft can cause, named for what the caller does,
and the one table from Microsoft's documented error codes onto them.

Raw MSAL error dicts and HTTP responses are mapped onto these at the boundary
(`tokens.py`, `client.py`) through `TOKEN_ERRORS` and `GRAPH_ERRORS`.
Messages are safe to show and store: they never contain a token, a code or a
secret. Each class says who must act (`who`): the customer's tenant
administrator, the MSP that runs the portal, or nobody (the portal retries).
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER = "customer"  # the customer's tenant administrator: consent again, check the tenant
MSP = "msp"  # the MSP running the portal: its app secret or certificate, its configuration
NOBODY = "nobody"  # the portal retries or adapts by itself


class MicrosoftError(Exception):
    """Base class. `code` is Microsoft's error code (AADSTS…, Graph code) if any."""

    kind = "microsoft_error"
    who = MSP

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class TransientError(MicrosoftError):
    """Throttling, 5xx or a network failure that outlived our retries: try again later."""

    kind = "transient"
    who = NOBODY


class ConsentRequiredError(MicrosoftError):
    """The app is not (or no longer) in the tenant, consent is missing or revoked, or the
    token lacks a permission that reads users: the customer's admin must consent again."""

    kind = "consent_required"
    who = CUSTOMER


class AppCredentialsError(MicrosoftError):
    """The portal's own app credential is wrong or expired: the MSP must fix its config."""

    kind = "app_credentials"
    who = MSP


class TenantNotFoundError(MicrosoftError):
    """The tenant id does not exist (AADSTS90002)."""

    kind = "tenant_not_found"
    who = CUSTOMER


class PermissionDeniedError(MicrosoftError):
    """An optional read was refused (e.g. mailboxSettings without MailboxSettings.Read)."""

    kind = "permission_denied"
    who = CUSTOMER


class DeltaExpiredError(MicrosoftError):
    """The stored delta link is no longer valid (400 syncStateNotFound or 410): do a full pass."""

    kind = "delta_expired"
    who = NOBODY


class PageTokenExpiredError(TransientError):
    """A paging token expired mid-enumeration (400 Directory_ExpiredPageToken): restart the pass."""

    kind = "page_token_expired"


class MalformedResponseError(MicrosoftError):
    """A response we cannot use (bad JSON, wrong shape, foreign next link): fail the run."""

    kind = "malformed_response"


class GraphRequestError(MicrosoftError):
    """Any other 4xx from Graph: a bug or an unexpected state; not retried."""

    kind = "graph_request"


@dataclass(frozen=True, slots=True)
class Meaning:
    """What one documented Microsoft error code means for the portal.

    `error` is the exception it becomes; `None` for a `$batch` item, which
    only ever affects its own account (`item` says how).
    """

    error: type[MicrosoftError] | None
    summary: str  # Microsoft's meaning, in our words (never shown verbatim to customers)
    item: str = ""  # for $batch items: "no_mailbox" or "unclassified"

    @property
    def kind(self) -> str:
        return self.error.kind if self.error else f"item_{self.item}"

    @property
    def who(self) -> str:
        return self.error.who if self.error else NOBODY


# Token endpoint (`error_codes` of the JSON error body, also "AADSTSnnn" in its description).
# Reference: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
TOKEN_ERRORS: dict[int, Meaning] = {
    700016: Meaning(ConsentRequiredError, "the app is not in the tenant (never consented, or removed)"),
    7000229: Meaning(ConsentRequiredError, "the app's service principal is missing from the tenant"),
    65001: Meaning(ConsentRequiredError, "admin consent was not granted"),
    500011: Meaning(ConsentRequiredError, "the resource principal (Microsoft Graph) is not in the tenant"),
    7000112: Meaning(ConsentRequiredError, "the app is disabled in the tenant"),
    90002: Meaning(TenantNotFoundError, "the tenant does not exist"),
    900023: Meaning(TenantNotFoundError, "the tenant identifier is not valid"),
    50059: Meaning(TenantNotFoundError, "no tenant could be identified from the request"),
    7000215: Meaning(AppCredentialsError, "the app's client secret is wrong"),
    7000222: Meaning(AppCredentialsError, "the app's client secret has expired"),
    700027: Meaning(AppCredentialsError, "the app's certificate assertion failed signature validation"),
    700024: Meaning(AppCredentialsError, "the app's client assertion is outside its validity time"),
    7000218: Meaning(AppCredentialsError, "no client secret or assertion was sent"),
    90033: Meaning(TransientError, "Microsoft Entra ID is temporarily unavailable"),
}

# Microsoft Graph (`error.code` of the JSON error body; also inside `$batch` items).
# Reference: https://learn.microsoft.com/en-us/graph/errors
GRAPH_ERRORS: dict[str, Meaning] = {
    # 401 to a token of a service principal that was deleted from the tenant.
    "authorization_identitynotfound": Meaning(ConsentRequiredError, "the app was removed from the tenant"),
    # 403 on /users: no permission that reads users (on optional reads: PermissionDeniedError).
    "authorization_requestdenied": Meaning(ConsentRequiredError, "the app lacks a permission"),
    # Reference: https://learn.microsoft.com/en-us/graph/delta-query-overview
    "syncstatenotfound": Meaning(DeltaExpiredError, "the delta link expired: full pass"),
    "resyncrequired": Meaning(DeltaExpiredError, "the delta link expired: full pass"),
    "directory_expiredpagetoken": Meaning(PageTokenExpiredError, "a paging token expired: restart the pass"),
    # Reference: https://learn.microsoft.com/en-us/graph/throttling
    "toomanyrequests": Meaning(TransientError, "throttled: retry after Retry-After"),
    "serviceunavailable": Meaning(TransientError, "unavailable: retry after Retry-After"),
    "gatewaytimeout": Meaning(TransientError, "gateway timeout: retry"),
    # `$batch` items of mailboxSettings/userPurpose: each affects its own account only.
    # Reference: https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings?view=graph-rest-1.0
    "erroraccessdenied": Meaning(None, "Exchange refused this mailbox (access policy)", "unclassified"),
    "mailboxnotenabledforrestapi": Meaning(None, "no Exchange Online mailbox", "no_mailbox"),
    "resourcenotfound": Meaning(None, "no mailbox", "no_mailbox"),
    "erroritemnotfound": Meaning(None, "no mailbox", "no_mailbox"),
    "errornonexistentmailbox": Meaning(None, "no mailbox", "no_mailbox"),
    "request_resourcenotfound": Meaning(GraphRequestError, "the object does not exist"),
    "request_unsupportedquery": Meaning(GraphRequestError, "the portal sent a query Graph does not support"),
}


def token_error_meaning(code: int) -> Meaning | None:
    """The meaning of one of a token error's `error_codes` (None if undocumented here)."""
    return TOKEN_ERRORS.get(code)


def graph_error_meaning(code: str) -> Meaning | None:
    return GRAPH_ERRORS.get(code.lower()) if code else None
