"""Response bodies written from the shapes Microsoft documents (never copied
from its pages): users lists, delta pages, errors, JSON batches and token
errors. Each builder cites the page that documents its shape."""

from __future__ import annotations

from typing import Any

GRAPH = "https://graph.microsoft.com/v1.0"
LOGIN = "https://login.microsoftonline.com"
TENANT = "0b8f2c4e-1d2a-4c3b-9e8f-6a7b5c4d3e2f"
CLIENT_ID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
SELECTED = (
    "id,displayName,givenName,surname,jobTitle,mobilePhone,mail,userPrincipalName,"
    "officeLocation,department,accountEnabled,userType,assignedLicenses"
)


def object_id(n: int) -> str:
    return f"4a1c9e20-7b3d-4f6a-9c2e-{n:012d}"


# Reference: https://learn.microsoft.com/en-us/graph/api/user-list?view=graph-rest-1.0
def person(n: int, **overrides: Any) -> dict[str, Any]:
    """A member user with every property the sync selects."""
    record: dict[str, Any] = {
        "id": object_id(n),
        "displayName": f"Giulia Bianchi {n}",
        "givenName": "Giulia",
        "surname": f"Bianchi {n}",
        "jobTitle": "Account Manager",
        "mobilePhone": "+39 347 555 0101",
        "mail": f"giulia.bianchi{n}@contoso.example",
        "userPrincipalName": f"giulia.bianchi{n}@contoso.example",
        "officeLocation": "Milan HQ",
        "department": "Sales",
        "accountEnabled": True,
        "userType": "Member",
        "assignedLicenses": [{"disabledPlans": [], "skuId": "06ebc4ee-1bb5-47dd-8120-11324bc54e06"}],
    }
    record.update(overrides)
    return record


def shared_mailbox(n: int) -> dict[str, Any]:
    """A shared mailbox: a user object, disabled, without licence."""
    return person(
        n,
        displayName=f"Reception {n}",
        givenName=None,
        surname=None,
        jobTitle=None,
        mobilePhone=None,
        mail=f"reception{n}@contoso.example",
        userPrincipalName=f"reception{n}@contoso.example",
        accountEnabled=False,
        assignedLicenses=[],
    )


def users_page(users: list[dict[str, Any]], next_link: str | None = None) -> dict[str, Any]:
    """One page of `GET /users`: `value`, and `@odata.nextLink` while more pages follow."""
    body: dict[str, Any] = {"@odata.context": f"{GRAPH}/$metadata#users({SELECTED})", "value": users}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


# Reference: https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0
def delta_page(
    items: list[dict[str, Any]], *, next_link: str | None = None, delta_link: str | None = None
) -> dict[str, Any]:
    """One page of `GET /users/delta`: a nextLink on every page but the last, which has the deltaLink."""
    body: dict[str, Any] = {"@odata.context": f"{GRAPH}/$metadata#users({SELECTED})", "value": items}
    if next_link:
        body["@odata.nextLink"] = next_link
    if delta_link:
        body["@odata.deltaLink"] = delta_link
    return body


def minimal_change(n: int, **changed: Any) -> dict[str, Any]:
    """A changed user under `Prefer: return=minimal`: the id and only the changed properties."""
    return {"@odata.type": "#microsoft.graph.user", "id": object_id(n), **changed}


def removed(n: int, reason: str) -> dict[str, Any]:
    """A user gone from the directory: `changed` (soft-deleted, restorable) or `deleted` (for good)."""
    return {"@odata.type": "#microsoft.graph.user", "id": object_id(n), "@removed": {"reason": reason}}


def delta_link(token: str) -> str:
    return f"{GRAPH}/users/delta?$deltatoken={token}"


def skip_link(path: str, token: str) -> str:
    return f"{GRAPH}/{path}?$skiptoken={token}"


# Reference: https://learn.microsoft.com/en-us/graph/errors
def graph_error(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-03-02T08:15:41",
                "request-id": "c1f0a2b3-4d5e-4f60-8a71-92b3c4d5e6f7",
                "client-request-id": "c1f0a2b3-4d5e-4f60-8a71-92b3c4d5e6f7",
            },
        }
    }


# Reference: https://learn.microsoft.com/en-us/graph/json-batching
def batch_item(rid: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict:
    return {
        "id": rid,
        "status": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": body,
    }


# Reference: https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings?view=graph-rest-1.0
def user_purpose(n: int, value: str) -> dict[str, Any]:
    return {
        "@odata.context": f"{GRAPH}/$metadata#users('{object_id(n)}')/mailboxSettings/userPurpose",
        "value": value,
    }


# Reference: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
def token_error(error: str, code: int, text: str) -> dict[str, Any]:
    """The token endpoint's JSON error: `error`, `error_description` ("AADSTSnnn: …") and `error_codes`."""
    trace, correlation = "7d2e4f60-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: 2026-03-02 08:15:41Z"
        ),
        "error_codes": [code],
        "timestamp": "2026-03-02 08:15:41Z",
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"{LOGIN}/error?code={code}",
    }


# Every token-endpoint error of the table in `integrations.graph.errors`, as Entra answers it:
# (HTTP status, `error`, code, description text, our error kind, who must act).
TOKEN_ERRORS = [
    (400, "unauthorized_client", 700016, "Application with identifier '{app}' was not found in the directory "
     "'Contoso'. This can happen if the application has not been installed by the administrator of the tenant.",
     "consent_required", "customer"),
    (401, "invalid_client", 7000229, "The client application {app} is missing service principal in the tenant "
     "{tenant}.", "consent_required", "customer"),
    (400, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID "
     "'{app}'.", "consent_required", "customer"),
    (400, "invalid_resource", 500011, "The resource principal named https://graph.microsoft.com was not found in "
     "the tenant named Contoso.", "consent_required", "customer"),
    (400, "unauthorized_client", 7000112, "Application '{app}'(MSP Portal) is disabled.", "consent_required",
     "customer"),
    (400, "invalid_tenant", 90002, "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
     "tenant_not_found", "customer"),
    (400, "invalid_request", 900023, "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a "
     "valid external domain.", "tenant_not_found", "customer"),
    (400, "invalid_request", 50059, "No tenant-identifying information found in either the request or implied by "
     "any provided credentials.", "tenant_not_found", "customer"),
    (401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request "
     "is the client secret value, not the client secret ID.", "app_credentials", "msp"),
    (401, "invalid_client", 7000222, "The provided client secret keys for app '{app}' are expired.",
     "app_credentials", "msp"),
    (401, "invalid_client", 700027, "Client assertion failed signature validation.", "app_credentials", "msp"),
    (401, "invalid_client", 700024, "Client assertion is not within its valid time range.", "app_credentials",
     "msp"),
    (401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' "
     "or 'client_secret'.", "app_credentials", "msp"),
]  # fmt: skip
