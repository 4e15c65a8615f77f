"""The Microsoft simulator in its own process, so that it never shares a GIL
(or a core's time slice accounting) with the sync being measured.

The parent talks to it through a pipe: the child sends the settings that
point the portal at it, then answers `apply` requests (tenant mutations such
as `churn`) until told to stop.
"""

from __future__ import annotations

import multiprocessing
from typing import Any


def _serve(pipe: Any, options: dict[str, Any]) -> None:
    from microsoft_simulator.server import start_simulator

    try:
        sim = start_simulator(**options)
    except Exception as exc:  # report, do not hang the parent
        pipe.send(("error", repr(exc)))
        return
    pipe.send(("ready", sim.settings()))
    try:
        while True:
            message = pipe.recv()
            if message[0] == "stop":
                break
            _, op, fields = message
            try:
                pipe.send(("ok", sim.apply(op, **fields)))
            except Exception as exc:
                pipe.send(("error", repr(exc)))
    finally:
        sim.stop()


class SimulatorProcess:
    """A simulator running in a child process (spawned: a clean interpreter)."""

    def __init__(self, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, options), daemon=True)
        self._process.start()
        kind, payload = self._pipe.recv()
        if kind != "ready":
            self._process.join(timeout=5)
            raise RuntimeError(f"the simulator did not start: {payload}")
        self.settings: dict[str, str] = payload

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def apply(self, op: str, **fields: Any) -> dict[str, Any]:
        self._pipe.send(("apply", op, fields))
        kind, payload = self._pipe.recv()
        if kind != "ok":
            raise RuntimeError(f"simulator op {op} failed: {payload}")
        return payload

    def stop(self) -> None:
        if self._process.is_alive():
            self._pipe.send(("stop",))
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
