"""Many tenants on one small cluster: N connections x M users, synced by a real
`manage.py qcluster` (django-q2, `--workers` processes) on PostgreSQL, with the
ORM broker and then the Redis broker, against the Microsoft simulator in its
own process.

    .venv/bin/python bench/many_tenants.py                               # 1,000 x 500, both brokers
    .venv/bin/python bench/many_tenants.py --connections 50 --users 100  # a minute
    .venv/bin/python bench/many_tenants.py --smoke                       # 4 x 20, ORM broker: checks the script

For each broker: a full round of due syncs from nothing (initial imports), then
two steady-state rounds (every connection due again, nothing changed in Entra;
the first plans and remembers its plan, the second reuses it, as every later
run does):
the round's wall time, each run's duration (a steady-state run is the per-run
fixed overhead: a delta round that finds nothing, the plan over the mirror and
the bookkeeping), how long each connection waited from due to started
(fairness: nobody may wait a whole sync interval), the database connections
used (pg_stat_activity, sampled) and the workers' RSS (sampled from /proc).
Then the dispatcher tick (`dispatch_due_syncs`, ORM broker) at `--tick-sizes`
connections (1,000 and 10,000), with nothing due, with a steady-state share due
(one tick's share of the sync interval) and with everything due, and the query
plan of its "what is due" query.

The benchmark creates and drops its own PostgreSQL database (`--pg-url`, named
bench… or <prefix>_bench…) and uses its own Redis database and queue name.
Results go to bench/results/many-tenants-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.databases import PostgresBench, machine  # noqa: E402

RESULTS = ROOT / "bench" / "results"
OFFICES = ("Milan HQ", "Rome")  # the generated simulator tenants' offices


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--users", type=int, default=500, help="users per tenant")
    parser.add_argument("--workers", type=int, default=2, help="qcluster worker processes")
    parser.add_argument("--brokers", default="orm,redis")
    parser.add_argument("--tick-sizes", default="1000,10000", help="connections for the dispatcher tick")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/perf_bench_tenants")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--queue-name", default="perf-bench-tenants", help="django-q2 cluster name (Redis key)"
    )
    parser.add_argument(
        "--round-timeout", type=float, default=3600.0, help="seconds before a round is abandoned"
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="4 connections x 20 users, 1 worker, ORM broker, no dispatcher section: checks the script",
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)  # internal: one Django step in a child process
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.connections, args.users, args.workers = 4, 20, 1
        args.brokers, args.tick_sizes, args.round_timeout = "orm", "", 120.0
    args.brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    args.tick_sizes = [int(n) for n in args.tick_sizes.split(",") if n.strip()]
    if args.output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.output = RESULTS / f"many-tenants-{stamp}.json"
    return args


# -- steps run inside Django (a child process, so each broker has its own settings) -------------
def step_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """`count` customers on an enterprise plan, each with a connection due now and both offices mapped."""
    from django.utils import timezone

    from integrations.models import AzureConnection, SiteMapping
    from portal.customers.models import Customer, Site

    now = timezone.now()
    first, count, tenant_ids = spec["first"], spec["count"], spec["tenant_ids"]
    customers = Customer.objects.bulk_create(
        Customer(name=f"Bench customer {first + n}", plan="enterprise") for n in range(count)
    )
    sites = Site.objects.bulk_create(Site(customer=c, name=office) for c in customers for office in OFFICES)
    connections = AzureConnection.objects.bulk_create(
        AzureConnection(
            customer=c,
            tenant_id=tenant_ids[n],
            tenant_name=c.name,
            brake_percent=100,  # the benchmark imports whole tenants: the mass-change brake would hold them
            next_sync_at=now,
        )
        for n, c in enumerate(customers)
    )
    SiteMapping.objects.bulk_create(
        SiteMapping(connection=conn, value=site.name, value_key=SiteMapping.key_for(site.name), site=site)
        for n, conn in enumerate(connections)
        for site in sites[n * len(OFFICES) : (n + 1) * len(OFFICES)]
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would after a bulk load: the planner sees the real sizes
    return {"connections": len(connections)}


def step_due(spec: dict[str, Any]) -> dict[str, Any]:
    """Make `share` of the connections due now, the others due later (the rest of the interval)."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from integrations.models import AzureConnection

    now = timezone.now()
    ids = list(AzureConnection.objects.order_by("pk").values_list("pk", flat=True))
    due = ids[: round(len(ids) * spec["share"])]
    AzureConnection.objects.update(next_sync_at=now + timedelta(hours=1))
    AzureConnection.objects.filter(pk__in=due).update(next_sync_at=now - timedelta(seconds=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_azureconnection")  # the planner sees this spread of due times
    return {"due": len(due), "connections": len(ids)}


def step_tick(spec: dict[str, Any]) -> dict[str, Any]:
    """One dispatcher tick, timed; and the plan of its "what is due" query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.services.scheduling import due_queryset
    from integrations.tasks import dispatch_due_syncs

    result: dict[str, Any] = {}
    if spec.get("explain"):
        sql, params = due_queryset().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {sql}", params)
            result["plan"] = "\n".join(row[0] for row in cursor.fetchall())
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        queued = dispatch_due_syncs()
        result["seconds"] = time.perf_counter() - started
    result["queued"] = queued
    result["queries"] = len(queries)
    return result


STEPS = {"setup": step_setup, "due": step_due, "tick": step_tick}


def run_step(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    spec = json.loads(args.spec)
    result = STEPS[args.step](spec)
    Path(spec["out"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


# -- the driver ------------------------------------------------------------------------------
class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sim = None
        self.env: dict[str, str] = {}
        self.db = PostgresBench(args.pg_url)
        self.tenant_ids: list[str] = []
        self.prepared = False

    def say(self, text: str) -> None:
        print(text, flush=True)

    def step(self, name: str, env: dict[str, str], **spec: Any) -> dict[str, Any]:
        out = Path(RESULTS) / f".many-tenants-{os.getpid()}-{name}.json"
        spec["out"] = str(out)
        done = subprocess.run(
            [sys.executable, "-m", "bench.many_tenants", "--step", name, "--spec", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"step {name} failed:\n{(done.stdout + done.stderr)[-4000:]}")
        try:
            return json.loads(out.read_text())
        finally:
            out.unlink(missing_ok=True)

    def broker_env(self, broker: str) -> dict[str, str]:
        env = {**self.env, "DATABASE_URL": self.db.url, "Q_WORKERS": str(self.args.workers)}
        env["Q_CLUSTER_NAME"] = self.args.queue_name
        env.pop("REDIS_URL", None)
        if broker == "redis":
            env["REDIS_URL"] = self.args.redis_url
        return env

    def start_simulator(self) -> None:
        from bench.simulator_process import SimulatorProcess
        from microsoft_simulator.catalog import tenant_specs

        started = time.perf_counter()
        specs = tenant_specs(self.args.connections)
        self.tenant_ids = [s.id for s in specs]
        self.sim = SimulatorProcess(
            users=[self.args.users], tenants=self.args.connections, seed=1, consented=self.tenant_ids
        )
        self.env = {
            **os.environ,
            **self.sim.settings,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "LOG_LEVEL": "WARNING",
        }
        self.env.pop("DATABASE_URL", None)
        self.say(
            f"simulator: {self.args.connections} tenants × {self.args.users} users ready in "
            f"{time.perf_counter() - started:.1f} s"
        )

    def fresh_database(self, broker: str, connections: int, tenant_ids: list[str]) -> None:
        if not self.prepared:  # migrated once; each database is a copy of that template
            self.db.prepare(self.broker_env(broker))
            self.prepared = True
        self.db.reset()
        for first in range(0, connections, 2000):
            count = min(2000, connections - first)
            self.step(
                "setup",
                self.broker_env(broker),
                first=first,
                count=count,
                tenant_ids=tenant_ids[first : first + count],
            )

    # -- a round of syncs through a real qcluster -------------------------------------------
    def run_broker(self, broker: str) -> dict[str, Any]:
        self.fresh_database(broker, self.args.connections, self.tenant_ids)
        if broker == "redis":
            import redis

            redis.Redis.from_url(self.args.redis_url).flushdb()  # our own Redis database only
        env = self.broker_env(broker)
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped by its id, with its workers
        )
        try:
            time.sleep(3)  # the cluster's workers start
            out = {"initial": self.round(env, cluster.pid, "initial")}
            # The first re-sync plans (and, having nothing to write, remembers its plan); the
            # next ones find the same inputs and reuse it (integrations/sync/plan_memo.py).
            for label in ("steady", "remembered"):
                self.step("due", env, share=1.0)
                out[label] = self.round(env, cluster.pid, label)
        finally:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait()
        return out

    def round(self, env: dict[str, str], cluster_pid: int, label: str) -> dict[str, Any]:
        import psycopg

        started_at = datetime.now(UTC)
        tick = self.step("tick", env)
        started = time.perf_counter()
        samples_db: list[int] = []
        samples_rss: list[float] = []
        deadline = started + self.args.round_timeout
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            while True:
                active = conn.execute(
                    "SELECT count(*) FROM integrations_syncrun WHERE status IN ('queued', 'running')"
                ).fetchone()[0]
                samples_db.append(
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        [self.db.name],
                    ).fetchone()[0]
                )
                samples_rss.append(_tree_rss_mb(cluster_pid))
                if active == 0 or time.perf_counter() > deadline:
                    break
                time.sleep(0.5)
            # From the first run queued to the last one finished, by the runs' own clocks
            # (the tick's process start-up is not the cluster's work).
            first_queued, last_finished = conn.execute(
                "SELECT min(created_at), max(finished_at) FROM integrations_syncrun WHERE created_at >= %s",
                [started_at],
            ).fetchone()
            seconds = (last_finished - first_queued).total_seconds() if last_finished else 0.0
            rows = conn.execute(
                "SELECT r.status, EXTRACT(EPOCH FROM r.finished_at - r.started_at), "
                "EXTRACT(EPOCH FROM r.started_at - %s), r.requests_made, r.created "
                "FROM integrations_syncrun r WHERE r.created_at >= %s",
                [first_queued, started_at],
            ).fetchall()
            failure = conn.execute(
                "SELECT error FROM integrations_syncrun WHERE created_at >= %s AND status = 'failed' LIMIT 1",
                [started_at],
            ).fetchone()
        statuses: dict[str, int] = {}
        for status, *_ in rows:
            statuses[status] = statuses.get(status, 0) + 1
        durations = sorted(float(r[1]) for r in rows if r[1] is not None)
        waits = sorted(float(r[2]) for r in rows if r[2] is not None)
        interval_s = float(os.environ.get("AZURE_SYNC_INTERVAL_HOURS", 12)) * 3600
        entry = {
            "seconds": round(seconds, 2),
            "runs": len(rows),
            "statuses": statuses,
            "runs_per_second": round(len(durations) / seconds, 2) if seconds else None,
            "tick_seconds": round(tick["seconds"], 3),
            "tick_queries": tick["queries"],
            "run_seconds_median": _q(durations, 0.5),
            "run_seconds_p95": _q(durations, 0.95),
            "run_seconds_max": _q(durations, 1.0),
            "wait_from_due_max_seconds": _q(waits, 1.0),
            "sync_interval_seconds": interval_s,
            "starved": sum(1 for w in waits if w > interval_s) + statuses.get("queued", 0),
            "requests_per_run_median": statistics.median([r[3] for r in rows]) if rows else None,
            "db_connections_max": max(samples_db, default=0),
            "worker_rss_max_mb": round(max(samples_rss, default=0.0), 1),
            "first_failure": failure[0] if failure else None,
        }
        self.say(
            f"  {label:<10} {entry['runs']} runs in {entry['seconds']:.1f} s ({entry['runs_per_second']}/s); "
            f"run median {entry['run_seconds_median']} s, p95 {entry['run_seconds_p95']} s; "
            f"longest wait {entry['wait_from_due_max_seconds']} s; tick {entry['tick_seconds']} s; "
            f"db connections ≤ {entry['db_connections_max']}; cluster RSS ≤ {entry['worker_rss_max_mb']} MB; "
            f"statuses {statuses}" + (f"; first failure: {entry['first_failure']}" if failure else "")
        )
        return entry

    # -- the dispatcher alone, at many connections ----------------------------------------
    def ticks(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        env = self.broker_env("orm")
        interval_h = float(os.environ.get("AZURE_SYNC_INTERVAL_HOURS", 12))
        steady_share = (5 / 60) / interval_h  # one 5-minute tick's share of the sync interval
        for size in self.args.tick_sizes:
            ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"perf-bench-tenant-{n}")) for n in range(size)]
            self.fresh_database("orm", size, ids)
            entry: dict[str, Any] = {"connections": size}
            for name, share in (("nothing_due", 0.0), ("steady_share_due", steady_share), ("all_due", 1.0)):
                due = self.step("due", env, share=share)
                tick = self.step("tick", env, explain=name == "nothing_due")
                entry[name] = {
                    "due": due["due"],
                    "queued": tick["queued"],
                    "seconds": round(tick["seconds"], 3),
                    "queries": tick["queries"],
                }
                if "plan" in tick:
                    entry["plan"] = tick["plan"]
            self.say(
                f"  tick at {size:>6} connections: nothing due {entry['nothing_due']['seconds']} s; "
                f"{entry['steady_share_due']['due']} due {entry['steady_share_due']['seconds']} s "
                f"({entry['steady_share_due']['queries']} queries); all due {entry['all_due']['seconds']} s"
            )
            out[str(size)] = entry
        return out

    def run(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["bench/many_tenants.py", *sys.argv[1:]]),
            "machine": machine(),
            "config": {
                "connections": self.args.connections,
                "users": self.args.users,
                "workers": self.args.workers,
                "brokers": self.args.brokers,
                "tick_sizes": self.args.tick_sizes,
            },
            "brokers": {},
        }
        started = time.perf_counter()
        try:
            if self.args.brokers:
                self.start_simulator()
            for broker in self.args.brokers:
                self.say(f"{broker} broker, {self.args.workers} workers:")
                result["brokers"][broker] = self.run_broker(broker)
            if self.args.tick_sizes:
                self.say("dispatcher:")
                if not self.env:
                    self.env = {
                        **os.environ,
                        "DJANGO_SETTINGS_MODULE": "portal.settings",
                        "LOG_LEVEL": "WARNING",
                    }
                result["dispatcher"] = self.ticks()
        finally:
            if self.sim is not None:
                self.sim.stop()
            self.db.drop()
        result["database"] = {"server": "PostgreSQL"}
        result["total_seconds"] = round(time.perf_counter() - started, 1)
        return result


def _q(values: list[float], quantile: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(quantile * (len(values) - 1) + 0.5))], 3)


def _tree_rss_mb(root_pid: int) -> float:
    """The largest RSS among the cluster's processes (its sentinel, workers, pusher, monitor)."""
    table: dict[int, tuple[int, float]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            rss = int(fields["VmRSS"].split()[0]) / 1024 if "VmRSS" in fields else 0.0
            table[int(fields["Pid"])] = (int(fields["PPid"]), rss)
        except (OSError, KeyError, ValueError):
            continue
    tree, grew = {root_pid}, True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return max((table[pid][1] for pid in tree if pid in table), default=0.0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.step:
        return run_step(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = Driver(args).run()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"\nResults written to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
