"""A steady-state run's fixed cost, in one long-lived process as a worker is.

    .venv/bin/python bench/steady_run.py                      # 500 users, 40 runs
    .venv/bin/python bench/steady_run.py --profile            # and a cProfile of them

One tenant of `--users` in the simulator (its own process), one connection
with both offices mapped, synced once; then `--runs` scheduled runs with
nothing changed in Entra, each queued and executed as the worker does
(`tasks.execute_run`, the real GraphClient). Prints the medians of the whole
task and of claim → finish (the `SyncRun`'s own clock, the figure of
`many_tenants.py`'s steady round), the worker's CPU per run, and the statements
and commits of one run. The database is the benchmark's own (`--pg-url`, named
bench… or <prefix>_bench…), dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def commits_of(statements: list[str]) -> int:
    """Transactions committed: each COMMIT, and each write outside BEGIN … COMMIT (autocommit)."""
    commits, depth = 0, 0
    for sql in statements:
        if sql.startswith("BEGIN"):
            depth += 1
        elif sql.startswith("COMMIT"):
            depth, commits = depth - 1, commits + 1
        elif depth == 0 and not sql.startswith("SELECT"):
            commits += 1
    return commits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/perf_bench_steady")
    parser.add_argument("--profile", action="store_true", help="cProfile the runs (cumulative, top 40)")
    args = parser.parse_args(argv)

    from bench.databases import PostgresBench
    from bench.simulator_process import SimulatorProcess
    from microsoft_simulator.catalog import tenant_specs

    tenant = tenant_specs(1)[0]
    sim = SimulatorProcess(users=[args.users], tenants=1, seed=1, consented=[tenant.id])
    db = PostgresBench(args.pg_url)
    env = {**sim.settings, "DJANGO_SETTINGS_MODULE": "portal.settings", "LOG_LEVEL": "WARNING"}
    try:
        db.prepare({**os.environ, **env})
        db.reset()
        os.environ.update({**env, "DATABASE_URL": db.url})
        measure(args, tenant.id)
    finally:
        sim.stop()
        db.drop()
    return 0


def measure(args: argparse.Namespace, tenant_id: str) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.models import AzureConnection, SiteMapping, SyncRun
    from integrations.tasks import execute_run
    from portal.customers.models import Customer, Site

    customer = Customer.objects.create(name="Steady", plan="enterprise")
    azure = AzureConnection.objects.create(
        customer=customer, tenant_id=tenant_id, tenant_name="Steady", brake_percent=100
    )
    for office in ("Milan HQ", "Rome"):
        site = Site.objects.create(customer=customer, name=office)
        SiteMapping.objects.create(
            connection=azure, value=office, value_key=SiteMapping.key_for(office), site=site
        )

    def one() -> tuple[float, float, float]:
        run = SyncRun.queue(azure, trigger=SyncRun.Trigger.SCHEDULED)
        cpu, wall = time.process_time(), time.perf_counter()
        outcome = execute_run(run.pk)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        run.refresh_from_db()
        if run.status != SyncRun.Status.SUCCEEDED or not (run.started_at and run.finished_at):
            raise RuntimeError(f"{outcome}: {run.error}")
        return wall, (run.finished_at - run.started_at).total_seconds(), cpu

    for _ in range(3):  # the initial import, then what a long-lived worker has warmed up
        one()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    figures = [one() for _ in range(args.runs)]
    if profiler:
        profiler.disable()
    with CaptureQueriesContext(connection) as queries:
        run = SyncRun.queue(azure, trigger=SyncRun.Trigger.SCHEDULED)
        start = len(queries)
        execute_run(run.pk)
    statements = [q["sql"] for q in queries.captured_queries[start:]]
    print(
        f"{args.users} users, {args.runs} steady-state runs, medians: task "
        f"{statistics.median(f[0] for f in figures) * 1000:.1f} ms, claim → finish "
        f"{statistics.median(f[1] for f in figures) * 1000:.1f} ms, worker CPU "
        f"{statistics.median(f[2] for f in figures) * 1000:.1f} ms; one run: "
        f"{len(statements)} statements, {commits_of(statements)} commits"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    sys.exit(main())
