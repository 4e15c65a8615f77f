"""Keep secrets out of the logs (rule R2).

Every log record passes through `RedactSecretsFilter` before it is written:
bearer tokens, JWT-shaped strings, OAuth codes and the app's client secret are
replaced, whatever logger produced them (ours, requests, MSAL, Django).
"""

from __future__ import annotations

import logging
import re

from django.conf import settings

REDACTED = "[redacted]"

_PATTERNS = [
    # Authorization headers and "Bearer <token>" anywhere.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    # Anything shaped like a JWT (header.payload.signature, base64url).
    re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"),
    # OAuth parameters that carry secrets, in URLs, forms, JSON or a dumped
    # dict (Django's template debug log prints whole contexts, the consent
    # flow's single-use token, state and nonce included). The lookbehind
    # keeps words that merely end in one (postcode, error_code, lease_token).
    re.compile(
        r"(?i)((?<![A-Za-z0-9_])(?:code|client_secret|access_token|refresh_token|id_token|client_assertion"
        r"|code_verifier|token|state|nonce)"
        r"[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+"
    ),
]


def redact(text: str) -> str:
    """Return `text` with every known secret shape replaced."""
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    secret = getattr(settings, "AZURE_CLIENT_SECRET", "")
    if secret and len(secret) >= 4:
        text = text.replace(secret, REDACTED)
    return text


class RedactSecretsFilter(logging.Filter):
    """A logging filter that rewrites the formatted message without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = cleaned, None
        return True
