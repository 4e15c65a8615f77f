"""The benchmark's own databases: created, reset and dropped here, never the
dev or test ones (their names must start with "bench", or a prefix then "_bench":
`perf_bench`, so that two benchmarks on one server never share a database)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
_BENCH_NAME = re.compile(r"^(?:[a-z0-9]+_)?bench[a-z0-9_]*$")


def is_bench_name(name: str) -> bool:
    """Whether `name` may be dropped by a benchmark: `bench…` or `<prefix>_bench…`."""
    return bool(_BENCH_NAME.match(name))


def _migrate(url: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": url},
        check=True,
        stdout=subprocess.DEVNULL,
    )


class PostgresBench:
    """`bench` (reset from a migrated `bench_template` before each import) on the given server."""

    vendor = "postgresql"
    label = "PostgreSQL"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.name = parts.path.lstrip("/")
        if not is_bench_name(self.name):
            raise ValueError(
                f"refusing to use database {self.name!r}: benchmark databases are named bench… or <prefix>_bench…"
            )
        self.url = url
        self.template = f"{self.name}_template"
        self._admin_url = urlunsplit(parts._replace(path="/postgres"))

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def prepare(self, env: dict[str, str]) -> None:
        self._admin(
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)',
            f'CREATE DATABASE "{self.template}"',
        )
        _migrate(urlunsplit(urlsplit(self.url)._replace(path=f"/{self.template}")), env)

    def reset(self) -> None:
        self._admin(
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"',
        )

    def drop(self) -> None:
        self._admin(
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)',
        )

    def describe(self) -> dict[str, str]:
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            names = ("server_version", "shared_buffers", "work_mem", "synchronous_commit", "max_wal_size")
            return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}


class SqliteBench:
    """A SQLite file under var/bench/, reset by copying a migrated template."""

    vendor = "sqlite"
    label = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        if not self.path.name.startswith("bench"):
            raise ValueError(f"refusing to use {self.path}: benchmark databases start with 'bench'")
        self.template = self.path.with_name(self.path.stem + "_template" + self.path.suffix)
        self.url = f"sqlite:///{self.path}"

    def _remove(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    def prepare(self, env: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove(self.template)
        _migrate(f"sqlite:///{self.template}", env)

    def reset(self) -> None:
        self._remove(self.path)
        shutil.copyfile(self.template, self.path)

    def drop(self) -> None:
        self._remove(self.path)
        self._remove(self.template)

    def describe(self) -> dict[str, str]:
        import sqlite3

        return {"sqlite_version": sqlite3.sqlite_version, "journal_mode": "WAL", "synchronous": "NORMAL"}


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    import platform

    import django

    cpu = ""
    memory_gib = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }


def _cpu_times() -> tuple[int, int]:
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields), idle


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU time used by anyone over `seconds` (None off Linux)."""
    import time

    try:
        total, idle = _cpu_times()
        time.sleep(seconds)
        total2, idle2 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle2 - idle) / max(1, total2 - total)


def wait_until_quiet(*, limit: float = 0.15, patience: float = 120.0) -> float | None:
    """Wait (up to `patience` seconds) until the machine is idle, so other work
    does not skew a measurement; returns the last busy share measured."""
    import time

    if patience <= 0:
        return None
    deadline = time.monotonic() + patience
    busy = cpu_busy()
    while busy is not None and busy > limit and time.monotonic() < deadline:
        busy = cpu_busy()
    return busy
