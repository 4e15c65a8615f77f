"""The sync benchmark still runs, end to end, at 1,000 users (`--smoke`).

It runs as the README documents it (a separate process, the simulator in
another one), on the database engine of this test run, in databases of its
own that it drops afterwards. The figures are not checked (this machine may
be busy), only that every one of them is produced and makes sense.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def backend_options(tmp_path: Path) -> tuple[str, list[str]]:
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        return "sqlite", ["--sqlite-path", str(tmp_path / "bench_smoke.sqlite3")]
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    url = f"postgres://{user}{password}@{host}:{port}/bench_smoke_{os.getpid()}"
    return "postgresql", ["--pg-url", url]


def test_the_benchmark_runs_end_to_end_and_reports_every_figure(tmp_path):
    vendor, options = backend_options(tmp_path)
    output = tmp_path / "smoke.json"
    docs = tmp_path / "performance.md"
    docs.write_text(
        "# Performance\n\n<!-- sync-benchmark:start -->\nold\n<!-- sync-benchmark:end -->\nkept\n"
    )

    command = [sys.executable, "bench/sync_benchmark.py", "--smoke", "--backends", vendor]
    done = subprocess.run(
        [*command, "--output", str(output), "--docs", str(docs), *options],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Targets:" in done.stdout
    # The figures replace the block between the markers of docs/performance.md, nothing else.
    written = docs.read_text()
    assert "old" not in written and written.endswith("<!-- sync-benchmark:end -->\nkept\n")
    assert "| initial import | 1,000 |" in written and "Targets, checked on the figures" in written
    result = json.loads(output.read_text())
    backend = result["backends"][vendor]
    scenarios = backend["scenarios"]
    assert set(scenarios) == {
        "initial",
        "no_change_planned",
        "no_change",
        "one_percent",
        "all_titles",
        "initial_500",
        "initial_2000",
    }
    initial = scenarios["initial"]["run"]
    assert initial["fetched"] == 1000 and initial["full_pass"]
    assert 800 < initial["created"] < 1000  # guests, leavers, unmapped users are skipped
    assert scenarios["no_change"]["run"]["fetched"] == 0
    assert scenarios["no_change_planned"]["run"]["unchanged"] == scenarios["no_change"]["run"]["unchanged"]
    assert scenarios["no_change"]["run"]["fields_changed"] == 0
    assert 1 <= scenarios["one_percent"]["run"]["fields_changed"] <= 10
    assert scenarios["all_titles"]["run"]["updated"] == initial["created"]
    assert scenarios["initial_2000"]["run"]["fetched"] == 2000
    assert all(entry["seconds"] > 0 and entry["rss_peak_mb"] > 0 for entry in scenarios.values())
    # The CPU the import used: the worker's own is part of the whole machine's.
    cpu = scenarios["initial"]["cpu_seconds"]
    assert 0 < cpu["worker"] <= cpu["machine"]
    assert "| initial import | 1,000 |" in written.split("CPU seconds used while it ran")[1]
    assert set(backend["naive"]) == {"users", "initial", "no_change", "one_percent", "all_titles"}
    assert backend["naive"]["initial"]["run"]["created"] > 0
    if vendor == "postgresql":
        assert scenarios["initial"]["floor_seconds"] > 0
        assert scenarios["initial"]["floor_rows"] == {
            "contacts": initial["created"],
            "audit": initial["created"],
            "mirror": 1000,
        }
        # The round-trip scenario: the initial import with 100 ms per Microsoft request, and its floor.
        trips = backend["round_trips"]
        assert trips["latency_ms"] == 100 and trips["run"]["fetched"] == 1000
        assert trips["page_requests"] == 3  # the baseline, two /users pages of 999
        assert trips["batch_requests"] == trips["requests_made"] - 3 > 0  # mailbox lookups
        # The floor counts the $batch requests four at a time, as the client sends them.
        rounds = 3 + -(-trips["batch_requests"] // trips["batch_concurrency"])
        assert trips["floor_seconds"] == pytest.approx(rounds * 0.1)
        assert trips["sequential_floor_seconds"] == pytest.approx(trips["requests_made"] * 0.1)
        assert trips["seconds"] >= 3 * 0.1  # each page's link comes with the previous page
        assert "round-trip floor" in done.stdout
    assert result["targets"] and all(isinstance(target["met"], bool) for target in result["targets"])
    assert result["machine"]["cores"]
    assert not (tmp_path / "bench_smoke.sqlite3").exists()  # the benchmark drops its databases
