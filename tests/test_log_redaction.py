"""Secrets never reach the logs (rule R2): every handler redacts bearer
tokens, JWTs, OAuth codes and secrets, and the app's own client secret."""

from __future__ import annotations

import io
import logging

import pytest

from portal.log_redaction import REDACTED, RedactSecretsFilter, redact

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJjb250b3NvIn0.c2lnbmF0dXJlLWJ5dGVz"
CLIENT_SECRET = "Qx8~app.Secret_value-1234567890"


@pytest.fixture
def client_secret(settings):
    settings.AZURE_CLIENT_SECRET = CLIENT_SECRET
    return CLIENT_SECRET


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer 0.ARoAv4j5cvGGr0GRqy180BHbR-opaque-token", "0.ARoAv4j5cvGGr0GRqy180BHbR"),
        ("headers={'Authorization': 'bearer abc.def-ghi_jkl'}", "abc.def-ghi_jkl"),
        (f"token was {JWT} for tenant", JWT),
        (f"id_token={JWT}", JWT),
        (
            "GET /integrations/azure/callback/?code=0.AXoA-auth-code_123&state=s1 HTTP/1.1",
            "0.AXoA-auth-code_123",
        ),
        ("?state=s1&code=0.AXoA-auth-code_123", "0.AXoA-auth-code_123"),
        ("{'code': '0.AXoA-auth-code_123', 'state': 's1'}", "0.AXoA-auth-code_123"),
        ("grant_type=client_credentials&client_secret=s3cr3t~value&scope=x", "s3cr3t~value"),
        ('{"access_token": "opaque-access", "refresh_token": "opaque-refresh"}', "opaque-"),
        ("client_assertion=signed.assertion.value&scope=x", "signed.assertion.value"),
        ("code_verifier=pkce-verifier-123&grant_type=authorization_code", "pkce-verifier-123"),
    ],
)
def test_it_redacts_tokens_codes_and_secrets(text, secret):
    cleaned = redact(text)

    assert secret not in cleaned
    assert REDACTED in cleaned


def test_it_redacts_the_apps_client_secret_wherever_it_appears(client_secret):
    cleaned = redact(f"MSAL said: invalid client secret '{client_secret}' (AADSTS7000215)")

    assert client_secret not in cleaned
    assert "AADSTS7000215" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Synced 120 users for tenant 72f988bf-86f1-41af-91ab-2d7cd011db47",
        "postcode=20121",
        "error_code=429 retry_after=3",
        "GET /customers/1/sites/2/?q=lovelace&page=2",
    ],
)
def test_it_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def test_it_redacts_the_consent_flows_single_use_values_in_a_dumped_context():
    # Django's template debug log prints whole contexts, the consent confirmation included.
    dumped = "{'confirm': {'token': 'wS6qRHVa_KnKW6bg', 'nonce': 'n-0dd1', 'state': 'S-a14Ty2d', 'tid': 'x'}}"

    cleaned = redact(dumped)

    assert "wS6qRHVa_KnKW6bg" not in cleaned and "n-0dd1" not in cleaned and "S-a14Ty2d" not in cleaned
    assert "'tid': 'x'" in cleaned and redact("lease_token=abc") == "lease_token=abc"


def _log_through_filter(logger_name: str, *args, exc: Exception | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        if exc is None:
            logger.warning(*args)
        else:
            try:
                raise exc
            except type(exc):
                logger.exception(*args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_the_filter_redacts_formatting_arguments():
    output = _log_through_filter("tests.redaction", "calling Graph with %s", f"Bearer {JWT}")

    assert JWT not in output
    assert "calling Graph with Bearer [redacted]" in output


def test_the_filter_redacts_tracebacks(client_secret):
    error = RuntimeError(f"token endpoint rejected client_secret={client_secret}")

    output = _log_through_filter("tests.redaction", "sync failed", exc=error)

    assert "Traceback" in output
    assert client_secret not in output


def _writes_somewhere(handler: logging.Handler) -> bool:
    # Libraries add NullHandlers; pytest's capture handlers are not part of the
    # portal's configuration.
    return not isinstance(handler, logging.NullHandler) and not type(handler).__module__.startswith("_pytest")


@pytest.mark.parametrize(
    "logger_name",
    ["", "django", "django.request", "django.server", "django.security", "integrations", "msal", "urllib3"],
)
def test_every_configured_handler_redacts(logger_name):
    """Follow the propagation chain as `logging` does: each handler a record
    reaches must carry the redaction filter (Django's own handlers would not)."""
    logger = logging.getLogger(logger_name)
    reached = []
    while logger is not None:
        reached.extend(h for h in logger.handlers if _writes_somewhere(h))
        logger = logger.parent if logger.propagate else None

    assert reached, "the record reaches no handler at all"
    for handler in reached:
        assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters), handler
