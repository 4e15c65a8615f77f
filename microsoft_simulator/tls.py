"""A local CA and server certificate, so clients verify TLS instead of skipping it.

The portal trusts the simulator only through `AZURE_CA_BUNDLE=<ca pem>`;
MSAL and requests keep full certificate verification. When a CA key path is
given, the CA is reused across restarts so the bundle path (and a browser's
trust exception during a demo) stays valid.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

HOSTS = ("127.0.0.1", "localhost", "::1")


def load_or_create_ca(ca_path: Path, ca_key_path: Path | None = None) -> trustme.CA:
    """Reuse the CA at `ca_path` + `ca_key_path` if both exist; otherwise create and write one."""
    if ca_key_path is not None and ca_path.exists() and ca_key_path.exists():
        return trustme.CA.from_pem(ca_path.read_bytes(), ca_key_path.read_bytes())
    ca = trustme.CA(organization_name="Microsoft simulator (local test CA)")
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_path))
    if ca_key_path is not None:
        fd = os.open(ca_key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(ca.private_key_pem.bytes())
    return ca


def server_context(ca: trustme.CA, hosts: tuple[str, ...] = HOSTS) -> ssl.SSLContext:
    """A TLS 1.2+ server context with a fresh leaf certificate for `hosts`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert(*hosts, common_name="Microsoft simulator").configure_cert(context)
    return context
