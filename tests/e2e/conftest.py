"""End-to-end fixtures: the local Microsoft simulator over real HTTPS, the
portal pointed at it through settings only, and a real django-q2 worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection as db_connection

from integrations.graph import tokens
from microsoft_simulator.server import RunningSimulator, start_simulator
from microsoft_simulator.testing import session_for

ROOT = Path(__file__).resolve().parents[2]
CONTOSO = "525b6c55-3da5-4253-a683-5aac155e4a8c"
CONTOSO_ADMIN = "MeganB@contoso.onmicrosoft.com"


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    sim = start_simulator(users=60, seed=1, tenants=3)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def portal_on_simulator(simulator, settings) -> RunningSimulator:
    """The portal's settings point at the simulator; nothing else changes."""
    for name, value in simulator.settings().items():
        setattr(settings, name, value)
    tokens.reset_token_cache()
    yield simulator
    tokens.reset_token_cache()


@pytest.fixture
def browser_session(simulator):
    """What a visitor's browser does on the Microsoft pages, with plain HTTPS."""
    return session_for(simulator)


def database_url() -> str:
    """The URL of the database the tests run on, for child processes."""
    params = db_connection.settings_dict
    if db_connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{params['USER']}@{host}:{port}/{params['NAME']}"


class Worker:
    """A real `manage.py qcluster` process on the test database."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, *, grace_seconds: float = 20) -> float:
        """Stop like a supervisor should: SIGTERM to the main process only (the
        cluster stops its own children), SIGKILL to the whole group after the
        grace period. Returns how long stopping took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.handle.close()
        return time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def worker_factory(tmp_path):
    """Start qcluster processes pointed at the test database (and the simulator, if given)."""
    workers: list[Worker] = []

    def start(extra_env: dict[str, str] | None = None) -> Worker:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "Q_WORKERS": "1",
            **(extra_env or {}),
        }
        worker = Worker(env, tmp_path / f"qcluster-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(grace_seconds=5)
