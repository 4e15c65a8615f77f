"""Counts for the stress tests and the figures they publish.

`RELIABILITY_SCALE` multiplies every count (default 1, sized for CI; use
`RELIABILITY_SCALE=10` for the figures in the README). Each stress test
appends one JSON line to `test-artifacts/reliability/figures.jsonl` and
prints it; `bench/reliability_report.py` turns the file into the table of docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
FIGURES_FILE = Path(
    os.environ.get("RELIABILITY_FIGURES", ROOT / "test-artifacts" / "reliability" / "figures.jsonl")
)
# One id per pytest session, so the report can pick the figures of the latest run.
SESSION_ID = os.environ.get("RELIABILITY_RUN_ID") or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def scale() -> int:
    try:
        return max(1, int(os.environ.get("RELIABILITY_SCALE", "1")))
    except ValueError:
        return 1


def count(base: int) -> int:
    """`base` at the CI scale, multiplied by RELIABILITY_SCALE."""
    return base * scale()


def record(item: str, **figures: Any) -> dict[str, Any]:
    """Append one line of figures for `item` (e.g. "throttling") and print it."""
    line = {
        "session": SESSION_ID,
        "item": item,
        "database": connection.vendor,
        "scale": scale(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **figures,
    }
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES_FILE.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"\nRELIABILITY {item} [{connection.vendor}]: {json.dumps(figures, ensure_ascii=False)}")
    return line


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)
