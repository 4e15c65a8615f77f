"""`make run` stops on Ctrl-C: scripts/run_dev.sh and every process it started end within seconds.

The script runs as a terminal would run it: in a process group of its own, on a
fresh SQLite database and free ports; Ctrl-C is SIGINT to that whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 180
STOP_WITHIN_SECONDS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            out.append(f"{pid}: {cmdline}")
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_ctrl_c_stops_make_run_and_every_process_it_started_within_seconds(tmp_path):
    port, simulator_port, browser_port = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "VENV": str(ROOT / ".venv"),
        "PORTAL_HOST": "127.0.0.1",
        "PORTAL_PORT": str(port),
        "SIMULATOR_PORT": str(simulator_port),
        "SIMULATOR_BROWSER_PORT": str(browser_port),
        "SIMULATOR_USERS": "40",
        "RUN_DEV_VAR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "Q_WORKERS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    log = (tmp_path / "run.log").open("w+")
    started: set[int] = set()
    script = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run_dev.sh")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a shell's foreground job
    )
    try:
        _wait_until_ready(port, script, log)
        started |= _descendants(script.pid)
        assert any("qcluster" in line for line in _alive(started)), _alive(started)
        time.sleep(2)  # let the worker finish starting its own processes

        started |= _descendants(script.pid)
        began = time.monotonic()
        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        with contextlib.suppress(subprocess.TimeoutExpired):  # reported below, with the processes left
            script.wait(timeout=STOP_WITHIN_SECONDS + 20)
        took = time.monotonic() - began
        time.sleep(0.3)
        left = _alive(started)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
        for line in _alive(started | _descendants(script.pid)):
            pid = int(line.split(":", 1)[0])
            if "manage.py" not in line:
                continue  # a number reused by someone else's process
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    log.seek(0)
    print(f"make run stopped {took:.1f}s after Ctrl-C; processes left: {len(left)}")
    assert took < STOP_WITHIN_SECONDS, f"stopped in {took:.1f}s\n{log.read()[-3000:]}"
    assert not left, f"processes left after Ctrl-C: {left}"


def _wait_until_ready(port: int, script: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if script.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200 and "qcluster" in " ".join(_alive(_descendants(script.pid))):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    log.seek(0)
    pytest.fail(f"make run did not become ready:\n{log.read()[-3000:]}")
