"""Every token-endpoint error of the table, as Entra answers it, mapped to
what it means and who must act (issue 13, finding 1: a tenant that removed
the app must consent again; it is not the MSP's secret)."""

from __future__ import annotations

import pytest

from integrations.graph import errors, tokens
from integrations.graph.errors import ConsentRequiredError
from integrations.models import Health, SyncRun
from integrations.services.connections import verify_tenant_access
from tests.microsoft.conftest import READ_ROLES, TokenEndpoint
from tests.microsoft.shapes import CLIENT_ID, TENANT, TOKEN_ERRORS, graph_error, token_error


def _error_body(error: str, code: int, text: str) -> dict:
    return token_error(error, code, text.format(app=CLIENT_ID, tenant=TENANT))


@pytest.mark.parametrize(
    ("status", "error", "code", "text", "kind", "who"), TOKEN_ERRORS, ids=lambda v: str(v)
)
def test_each_documented_token_error_means_what_the_table_says(
    entra_tokens, status, error, code, text, kind, who
):
    entra_tokens.answers = [(status, _error_body(error, code, text))]

    with pytest.raises(errors.MicrosoftError) as caught:
        tokens.get_app_token(TENANT)

    assert (caught.value.kind, caught.value.who) == (kind, who)
    assert caught.value.code == f"AADSTS{code}"
    assert errors.TOKEN_ERRORS[code].who == who


def test_every_code_of_the_table_has_a_documented_shape_fixture():
    fixtures = {code for _, _, code, *_ in TOKEN_ERRORS}

    assert fixtures == {
        code for code, meaning in errors.TOKEN_ERRORS.items() if meaning.error is not errors.TransientError
    }


def test_a_tenant_that_removed_the_app_asks_its_admin_to_consent_again_not_the_msp(
    connection, entra_tokens, sync
):
    # Finding 1: 7000229 comes as `invalid_client`, which used to read as "the MSP's secret is wrong".
    entra_tokens.answers = [(401, _error_body("invalid_client", 7000229, TOKEN_ERRORS[1][3]))]

    run = sync(connection)

    assert (run.status, run.error_kind) == (SyncRun.Status.FAILED, "consent_required")
    assert connection.health == Health.NEEDS_ATTENTION
    assert "consent again" in connection.health_reason
    assert "administrator of your Microsoft tenant" in connection.health_reason
    assert "service provider" not in connection.health_reason


def test_graph_answering_identity_not_found_also_means_consent_again(connection, entra_tokens, rsps, sync):
    # A token issued before the removal: Graph no longer knows the service principal behind it.
    # Reference: https://learn.microsoft.com/en-us/graph/errors
    entra_tokens.answers = [(200, TokenEndpoint.token(READ_ROLES))]
    body = graph_error(
        "Authorization_IdentityNotFound", "The identity of the calling application could not be established."
    )
    rsps.get("https://graph.microsoft.com/v1.0/users/delta", status=401, json=body)

    run = sync(connection)

    assert (run.error_kind, connection.health) == ("consent_required", Health.NEEDS_ATTENTION)
    assert "Authorization_IdentityNotFound" in run.error


def test_a_rejected_secret_tells_the_customer_the_service_provider_must_act(connection, entra_tokens, sync):
    entra_tokens.answers = [(401, _error_body("invalid_client", 7000222, TOKEN_ERRORS[9][3]))]

    run = sync(connection)

    assert run.error_kind == "app_credentials"
    assert "service provider must renew" in connection.health_reason


def test_token_errors_while_consent_propagates_are_retried(entra_tokens):
    # Finding 5: right after consent Entra may refuse a token outright, not only issue one without roles.
    not_yet = _error_body("unauthorized_client", 700016, TOKEN_ERRORS[0][3])
    entra_tokens.answers = [
        (400, not_yet),
        (400, not_yet),
        (200, TokenEndpoint.token([])),
        (200, TokenEndpoint.token(READ_ROLES)),
    ]

    token = verify_tenant_access(TENANT, sleep=lambda seconds: None, fresh_consent=True)

    assert token.roles == frozenset(READ_ROLES)
    assert entra_tokens.calls == 4


def test_a_consent_that_never_arrives_still_ends_as_consent_required(entra_tokens):
    entra_tokens.answers = [(400, _error_body("unauthorized_client", 700016, TOKEN_ERRORS[0][3]))]

    with pytest.raises(ConsentRequiredError):
        verify_tenant_access(TENANT, attempts=3, sleep=lambda seconds: None, fresh_consent=True)

    assert entra_tokens.calls == 3
