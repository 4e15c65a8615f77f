"""One measured step of the benchmark, in a fresh process.

    python -m bench.worker SPEC_JSON RESULT_PATH

The parent sets `DATABASE_URL` (the benchmark's own database) and the
settings that point the portal at the simulator. A fresh process per step
makes the peak resident set size (`getrusage(RUSAGE_SELF).ru_maxrss`, the
whole process: interpreter, Django and the sync) belong to that step alone.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """A customer with its connection to the tenant and every office mapped to a site."""
    from integrations.models import AzureConnection, SiteMapping
    from portal.customers.models import Customer, Site

    customer = Customer.objects.create(name=spec["customer"], plan="enterprise")
    # The benchmark measures applying mass changes (every title changed): the brake would hold them.
    connection = AzureConnection.objects.create(
        customer=customer, tenant_id=spec["tenant_id"], tenant_name=spec["customer"], brake_percent=100
    )
    for office in spec["offices"]:
        site = Site.objects.create(customer=customer, name=office)
        SiteMapping.objects.create(connection=connection, value=office, site=site)
    return {"connection_id": connection.pk, "customer_id": customer.pk}


def _instrument(phases: dict[str, float]) -> None:
    """Time the engine's steps by wrapping the names `run_sync` calls them by."""
    from integrations.sync import runner

    def timed(name: str, function: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] += time.perf_counter() - started

        return wrapper

    for attribute, phase in (
        ("_fetch", "fetch"),
        ("write_page", "fetch.mirror_writes"),
        ("classify_disabled_users", "classify"),
        ("_plan_run", "plan"),
        ("apply_plan", "apply"),
    ):
        if hasattr(runner, attribute):
            setattr(runner, attribute, timed(phase, getattr(runner, attribute)))


def step_sync(spec: dict[str, Any]) -> dict[str, Any]:
    """`run_sync` with the real GraphClient against the simulator, end to end."""
    from integrations.models import AzureConnection, SyncRun
    from integrations.sync.runner import run_sync

    phases: dict[str, float] = defaultdict(float)
    _instrument(phases)
    if spec.get("profile"):
        # cProfile sees one thread: fetch pages in this one, so the profile shows them.
        from integrations.sync import runner

        runner.prefetched_together = lambda pages, **_: ([page] for page in pages)  # type: ignore[assignment]
    connection = AzureConnection.objects.get(pk=spec["connection_id"])
    profiler = cProfile.Profile() if spec.get("profile") else None
    wal_before = database_activity()
    backend_pid = database_backend_pid()
    cpu_before = cpu_seconds(backend_pid)
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    run = run_sync(connection, trigger=spec.get("trigger", SyncRun.Trigger.MANUAL))
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu_after = cpu_seconds(backend_pid)
    wal_after = database_activity()
    if run.status != SyncRun.Status.SUCCEEDED:
        raise RuntimeError(f"the sync did not succeed: {run.status} {run.error}")
    from integrations.graph.client import BATCH_CONCURRENCY, MAX_PAGE_SIZE

    result = {
        "seconds": seconds,
        # What the parent's round-trip floor counts with (it has no Django settings to import them).
        "graph_limits": {"max_page_size": MAX_PAGE_SIZE, "batch_concurrency": BATCH_CONCURRENCY},
        "phases": dict(phases),
        "run": _counts(run),
        "database": {k: wal_after[k] - wal_before[k] for k in wal_after} if wal_after else {},
        "cpu": {k: round(cpu_after[k] - cpu_before[k], 3) for k in cpu_after},
    }
    if profiler:
        result["profile"] = _profile_text(profiler, spec.get("profile_path"))
    return result


def step_naive(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.naive import naive_sync
    from integrations.models import AzureConnection, SyncRun

    connection = AzureConnection.objects.get(pk=spec["connection_id"])
    run = SyncRun.objects.create(
        customer_id=connection.customer_id, connection=connection, trigger="manual", status="running"
    )
    started = time.perf_counter()
    counts = naive_sync(connection, run)
    return {"seconds": time.perf_counter() - started, "run": counts}


def step_floor(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.floor import copy_floor

    return copy_floor(
        contacts=spec["contacts"], audit=spec["audit"], mirror=spec["mirror"], repeat=spec.get("repeat", 3)
    )


def database_activity() -> dict[str, int]:
    """PostgreSQL's WAL position and forced checkpoints so far (the cost of a write is mostly there)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, checkpoints_req FROM pg_stat_bgwriter"
        )
        wal, checkpoints = cursor.fetchone()
    return {"wal_bytes": int(wal), "forced_checkpoints": int(checkpoints)}


def database_backend_pid() -> int | None:
    """The process of this worker's PostgreSQL session (the server runs on this machine)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def cpu_seconds(backend_pid: int | None) -> dict[str, float]:
    """CPU time used so far: by the whole machine (every core, every process: this worker,
    PostgreSQL, the simulator), by this process (all its threads), and by its database session."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {"worker": usage.ru_utime + usage.ru_stime}
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, _steal = map(int, stat.readline().split()[1:9])
        out["machine"] = (user + nice + system + irq + softirq) / ticks
        if backend_pid is not None:
            with open(f"/proc/{backend_pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            out["database_session"] = (int(fields[11]) + int(fields[12])) / ticks
    except OSError:  # not Linux, or the database runs elsewhere
        pass
    return out


def _counts(run: Any) -> dict[str, Any]:
    names = (
        "fetched",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "fields_changed",
        "full_pass",
        "requests_made",
    )
    return {name: getattr(run, name) for name in names}


def _profile_text(profiler: cProfile.Profile, path: str | None) -> str:
    if path:
        profiler.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(25)
    return out.getvalue()


STEPS = {"setup": step_setup, "sync": step_sync, "naive": step_naive, "floor": step_floor}


def main(argv: list[str]) -> int:
    spec, result_path = json.loads(argv[1]), Path(argv[2])
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    baseline = peak_rss_mb()
    result = STEPS[spec["step"]](spec)
    result["rss_baseline_mb"] = round(baseline, 1)
    result["rss_peak_mb"] = round(peak_rss_mb(), 1)
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
