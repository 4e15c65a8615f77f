"""The many-tenants benchmark still runs, end to end (`--smoke`: 4 tenants x 20 users).

As the docs run it: a separate process, the simulator in another one, a real
`manage.py qcluster` (ORM broker, one worker) syncing every connection twice
(initial imports, then a steady-state round), in a PostgreSQL database of its
own that it drops afterwards. The figures are not checked (this machine may be
busy), only that each round ran every connection and reported its figures.
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

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


def test_the_many_tenants_benchmark_runs_both_rounds_through_a_real_cluster(tmp_path):
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        pytest.skip("the many-tenants benchmark measures PostgreSQL")
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    output = tmp_path / "many-tenants.json"

    done = subprocess.run(
        [
            sys.executable,
            "bench/many_tenants.py",
            "--smoke",
            "--pg-url",
            f"postgres://{user}{password}@{host}:{port}/bench_tenants_smoke_{os.getpid()}",
            "--queue-name",
            f"bench-tenants-smoke-{os.getpid()}",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text())
    rounds = result["brokers"]["orm"]
    for name in ("initial", "steady", "remembered"):
        assert rounds[name]["statuses"] == {"succeeded": 4}, rounds[name]
        assert rounds[name]["run_seconds_median"] > 0 and rounds[name]["starved"] == 0
    assert rounds["steady"]["requests_per_run_median"] == 1  # the delta round that finds nothing
    assert rounds["remembered"]["requests_per_run_median"] == 1
