"""The HTTPS server: threaded `http.server` with keep-alive, run in a background thread.

HTTP/1.1 keep-alive matters: MSAL and requests reuse connections, and a TLS
handshake per page would dominate a 300k-user benchmark. The TLS handshake
runs in the worker thread, so a slow or broken client never blocks accept().
"""

from __future__ import annotations

import gzip
import logging
import secrets
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .app import Simulator
from .catalog import TenantSpec, tenant_specs
from .knobs import Knobs
from .state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    AppRegistration,
    SimulatorState,
    load_state_file,
)
from .tls import load_or_create_ca, server_context
from .tokens import Signer
from .web import Request, Response, json_response

logger = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def setup(self) -> None:
        self._tls_ok = True
        try:
            self.request.settimeout(30)
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self._tls_ok = False
        super().setup()

    def handle(self) -> None:
        if self._tls_ok:
            try:
                super().handle()
            except (ssl.SSLError, ConnectionError, TimeoutError):
                self.close_connection = True

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        request = Request(self.command, unquote(split.path), query, self.headers, body)
        if self.server.context is None and not unquote(split.path).endswith(BROWSER_PATHS):
            # The plain-HTTP listener serves only what a browser shows; tokens and Graph need TLS.
            self._send(json_response(404, {"error": "not_found", "error_description": "Use HTTPS."}))
            return
        try:
            response = self.server.simulator.handle(request)
        except Exception:
            logger.exception("simulator error on %s %s", self.command, split.path)
            response = json_response(500, {"error": "simulator_internal_error"})
        self._send(response)

    def _send(self, response: Response) -> None:
        body = response.body
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if len(body) > 2048 and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            # Graph compresses when asked; a 999-user page shrinks ~5x for ~2 ms of CPU.
            body = gzip.compress(body, compresslevel=1, mtime=0)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"[simulator] {self.address_string()} {format % args}\n")


# The pages a browser visits: sign-in (authorize) and admin consent.
BROWSER_PATHS = ("/oauth2/v2.0/authorize", "/v2.0/adminconsent")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], context: ssl.SSLContext | None, *, verbose: bool = False
    ) -> None:
        self.context = context
        self.verbose = verbose
        self.simulator: Simulator
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a reverse DNS lookup (getfqdn): slow and pointless here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        # Headers and body go out in separate writes: without NODELAY, Nagle plus the
        # client's delayed ACK add ~40 ms to every small response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is None:  # the browser pages' plain-HTTP listener
            return sock, address
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


@dataclass
class RunningSimulator:
    """A simulator serving in a background thread. Use as a context manager or call `stop()`."""

    simulator: Simulator
    ca_path: Path
    _server: _Server
    _thread: threading.Thread
    _temp_dir: str | None = None
    _browser_server: _Server | None = None

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    @property
    def graph_url(self) -> str:
        return f"{self.simulator.base_url}/v1.0"

    @property
    def state(self) -> SimulatorState:
        return self.simulator.state

    @property
    def admin_key(self) -> str:
        return self.simulator.admin_key

    @property
    def client_id(self) -> str:
        return self.state.app.client_id

    @property
    def client_secret(self) -> str:
        return self.state.app.client_secret

    @property
    def tenants(self) -> list[TenantSpec]:
        return [directory.spec for directory in self.state.directories.values()]

    def settings(self) -> dict[str, str]:
        """Django settings that point the portal at this simulator."""
        return {
            "AZURE_AUTHORITY_HOST": self.base_url,
            # Where the portal sends browsers (the admin-consent page); tokens stay on AZURE_AUTHORITY_HOST.
            "AZURE_BROWSER_AUTHORITY_HOST": self.simulator.browser_base_url or self.base_url,
            "GRAPH_API_URL": self.graph_url,
            "AZURE_CA_BUNDLE": str(self.ca_path),
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_CLIENT_CERTIFICATE_PATH": "",
        }

    def apply(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run one state op, e.g. `sim.apply("update_user", tenant=tid, user=uid, props={...})`."""
        return self.state.apply({"op": op, **fields})

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """`sim.set_knobs(latency_ms=5, throttle={"next": 2, "retry_after": "0.5"})`."""
        return self.state.knobs.update(changes)

    def stop(self) -> None:
        if self._browser_server is not None:
            self._browser_server.shutdown()
            self._browser_server.server_close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._temp_dir:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tenant_sizes(users: int | Sequence[int], tenants: int) -> tuple[int, ...]:
    """Users per tenant: one number for all, or a list (the last value repeats)."""
    if isinstance(users, int):
        return (users,) * tenants
    sizes = list(users)
    if not sizes:
        raise ValueError("users must name at least one size")
    return tuple(sizes + [sizes[-1]] * (tenants - len(sizes)))


def start_simulator(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    users: int | Sequence[int] = 50,
    seed: int = 1,
    tenants: int = 3,
    ca_path: Path | str | None = None,
    ca_key_path: Path | str | None = None,
    knobs: Knobs | None = None,
    consented: Sequence[str] = (),
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    client_certificate_pem: bytes | None = None,
    redirect_uris: Sequence[str] = (),
    state_file: Path | str | None = None,
    admin_key: str | None = None,
    verbose: bool = False,
    browser_port: int | None = None,
) -> RunningSimulator:
    """Generate the tenants, start HTTPS on `host:port` (0: any free port) and return at once.

    `consented` lists tenant ids (or domains) whose admins consented before
    start. `state_file` keeps consents and mutations (plus the signing key,
    so tokens stay valid) across restarts. Without `ca_path` the CA bundle is
    written to a temporary directory removed by `stop()`.
    """
    if not isinstance(users, int):
        tenants = max(tenants, len(users))
    sizes = tenant_sizes(users, tenants)
    state_path = Path(state_file) if state_file else None
    saved = load_state_file(state_path) if state_path else None
    if saved and (saved.get("seed") != seed or tuple(saved.get("sizes", ())) != sizes):
        raise ValueError(
            f"{state_path} was written for seed {saved.get('seed')} and sizes {saved.get('sizes')}; "
            "start with the same --seed/--users/--tenants or delete the file"
        )
    signer = Signer(saved["signing_key"].encode() if saved else None)
    admin_key = admin_key or (saved or {}).get("admin_key") or secrets.token_urlsafe(24)
    app = AppRegistration(
        client_id, client_secret, certificate_pem=client_certificate_pem, redirect_uris=tuple(redirect_uris)
    )
    state = SimulatorState.create(
        tenant_specs(tenants), sizes, seed=seed, app=app, knobs=knobs, state_file=state_path
    )
    state.extra = {"signing_key": signer.private_pem().decode(), "admin_key": admin_key}
    for tenant in consented:
        state.apply({"op": "grant_consent", "tenant": tenant, "at": 0}, record=False)
    if saved:
        state.replay(saved.get("ops", []))
    state.save()

    temp_dir = None
    if ca_path is None:
        temp_dir = tempfile.mkdtemp(prefix="microsoft-simulator-")
        ca_path = Path(temp_dir) / "ca.pem"
    ca_path = Path(ca_path).resolve()
    ca = load_or_create_ca(ca_path, Path(ca_key_path) if ca_key_path else None)
    server = _Server((host, port), server_context(ca), verbose=verbose)
    shown_host = f"[{host}]" if ":" in host else host
    simulator = Simulator(f"https://{shown_host}:{server.server_port}", state, signer, admin_key)
    server.simulator = simulator
    browser_server = None
    if browser_port is not None:
        # Sign-in and consent pages over plain HTTP on the same host: a browser shows no
        # certificate warning for them (README, "A walk through the product").
        browser_server = _Server((host, browser_port), None, verbose=verbose)
        browser_server.simulator = simulator
        simulator.browser_base_url = f"http://{shown_host}:{browser_server.server_port}"
        threading.Thread(
            target=browser_server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="microsoft-simulator-browser",
            daemon=True,
        ).start()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="microsoft-simulator", daemon=True
    )
    thread.start()
    return RunningSimulator(simulator, ca_path, server, thread, temp_dir, browser_server)
