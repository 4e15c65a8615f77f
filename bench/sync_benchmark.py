"""End-to-end benchmark of the Entra ID sync: `run_sync` with the real
GraphClient, over loopback HTTPS, against the local Microsoft simulator
running in its own process with Microsoft's page sizes (a full pass: the
delta baseline, then /users at 999 per page; delta rounds: pages of 200),
on PostgreSQL and on SQLite.

    .venv/bin/python bench/sync_benchmark.py                                 # every figure (~10 minutes)
    .venv/bin/python bench/sync_benchmark.py --docs docs/performance.md      # and rewrite its figures
    .venv/bin/python bench/sync_benchmark.py --smoke                         # 1,000 users, seconds

Scenarios on the main tenant (`--users`, default 100,000): the initial import,
a first re-sync with no change (it plans over the whole mirror and remembers
that plan), further re-syncs with no change (they reuse it), a re-sync with 1 % of users changed, a re-sync with
every user's title changed; then initial imports at `--sizes` (10,000 and
300,000) to check linearity; then, on PostgreSQL, the initial import again
with `--latency-ms` (100) added to every simulated Microsoft request, against
its round-trip floor: the requests needed at Microsoft's page sizes times that
latency, the `$batch` requests counted as concurrent as the client sends them
(round trips, not our CPU, bound a real import). References: the floor (PostgreSQL COPY of the
same rows into tables with the same indexes) and a naive implementation (one
query per user) run on `--naive-users` and extrapolated linearly.

Every sync runs in a fresh process whose peak RSS is read with
`getrusage(RUSAGE_SELF).ru_maxrss` (the whole process, Django included).
Results are printed and written to bench/results/latest.json (a run with
non-default options writes bench/results/run-<time>.json, git-ignored).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.databases import PostgresBench, SqliteBench, machine, wait_until_quiet  # noqa: E402
from bench.simulator_process import SimulatorProcess  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULTS = {
    "users": 100_000,
    "sizes": [10_000, 300_000],
    "naive_users": 10_000,
    "repeat": 3,
    "latency_ms": 100.0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=DEFAULTS["users"], help="main tenant size")
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in DEFAULTS["sizes"]),
        help="other initial-import sizes, for linearity (comma-separated; empty: none)",
    )
    parser.add_argument("--naive-users", type=int, default=DEFAULTS["naive_users"])
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULTS["repeat"],
        help="runs of the main initial import and of each re-sync (median)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=DEFAULTS["latency_ms"],
        help="per-request latency of the round-trip scenario (PostgreSQL; 0: skip it)",
    )
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--sqlite-path", type=Path, default=ROOT / "var" / "bench" / "bench.sqlite3")
    parser.add_argument("--output", type=Path, help="JSON result file")
    parser.add_argument("--profile", action="store_true", help="cProfile the main-tenant syncs")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases afterwards")
    parser.add_argument(
        "--patience",
        type=float,
        default=300.0,
        help="seconds to wait for an idle machine before each measurement (0: do not wait)",
    )
    parser.add_argument("--smoke", action="store_true", help="1,000 users, one run each: checks the script")
    parser.add_argument(
        "--docs",
        "--readme",
        dest="docs",
        type=Path,
        help="also write the figures into this file's benchmark block (docs/performance.md)",
    )
    parser.add_argument(
        "--from-json", type=Path, help="do not measure: print (and --docs) the figures of this result file"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.users, args.sizes, args.naive_users, args.repeat = 1000, "500,2000", 200, 1
        args.patience = 0.0
    args.sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.backends = [b for b in backends if not (args.skip_sqlite and b == "sqlite")]
    if args.output is None:
        complete = not args.smoke and not args.skip_naive and set(args.backends) == {"postgresql", "sqlite"}
        complete = complete and all(getattr(args, k) == v for k, v in DEFAULTS.items())
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.output = RESULTS / ("latest.json" if complete else f"run-{stamp}.json")
    return args


class Bench:
    """One benchmark run: the simulator, the databases and the measured steps."""

    def __init__(self, args: argparse.Namespace) -> None:
        from microsoft_simulator.catalog import tenant_specs

        self.args = args
        # One tenant per tenant size: the main one, the scaling sizes, the naive reference.
        self.sizes = [args.users, *args.sizes, *([] if args.skip_naive else [args.naive_users])]
        self.specs = tenant_specs(len(self.sizes))
        self.sim: SimulatorProcess | None = None
        self.env: dict[str, str] = {}
        self.db: PostgresBench | SqliteBench | None = None

    # -- processes --------------------------------------------------------------
    def start_simulator(self) -> None:
        started = time.perf_counter()
        self.sim = SimulatorProcess(
            users=self.sizes, tenants=len(self.sizes), seed=1, consented=[s.id for s in self.specs]
        )
        self.env = {
            **os.environ,
            **self.sim.settings,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "LOG_LEVEL": "WARNING",
            # The production posture a deployed worker runs with: under DEBUG, Django
            # keeps the text of every query the sync makes.
            "DEBUG": "false",
            "SECRET_KEY": "sync-benchmark-only-not-a-secret",
        }
        self.env.pop("DATABASE_URL", None)
        say(f"simulator ready in {time.perf_counter() - started:.1f} s (pid {self.sim.pid})")

    def worker(self, step: str, **spec: Any) -> dict[str, Any]:
        """Run one step in a fresh process on the current benchmark database."""
        assert self.db is not None
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            log_path = Path(tmp) / "worker.log"
            with log_path.open("wb") as log:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.worker", json.dumps({"step": step, **spec}), str(out)],
                    cwd=ROOT,
                    env={**self.env, "DATABASE_URL": self.db.url},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            text = log_path.read_text(errors="replace")
            if done.returncode != 0:
                raise RuntimeError(f"benchmark step {step} failed:\n{text[-4000:]}")
            return json.loads(out.read_text())

    # -- scenarios --------------------------------------------------------------
    def tenant(self, index: int) -> dict[str, Any]:
        spec = self.specs[index]
        return {"tenant_id": spec.id, "customer": spec.name, "offices": list(spec.offices)}

    def fresh_connection(self, index: int) -> dict[str, Any]:
        assert self.db is not None
        self.db.reset()
        return self.worker("setup", **self.tenant(index))

    def sync(self, ids: dict[str, Any], trigger: str = "manual", label: str = "") -> dict[str, Any]:
        spec: dict[str, Any] = {"connection_id": ids["connection_id"], "trigger": trigger}
        if self.args.profile and label:
            path = RESULTS / f"profile-{self.db.vendor}-{label}.pstats"
            spec.update(profile=True, profile_path=str(path))
        result = self.worker("sync", **spec)
        if "profile" in result:
            (RESULTS / f"profile-{self.db.vendor}-{label}.txt").write_text(result["profile"])
        return result

    def floor(self, run: dict[str, Any]) -> dict[str, Any] | None:
        if self.db is None or self.db.vendor != "postgresql":
            return None
        counts = run["run"]
        return self.worker(
            "floor",
            contacts=counts["created"] + counts["updated"],
            # One "created" row per new contact, one row per overwritten field.
            audit=counts["created"] + counts["fields_changed"],
            mirror=counts["fetched"],
            repeat=1 if self.args.smoke else 3,
        )

    def churn(self, index: int, update: int, seed: int) -> None:
        assert self.sim is not None
        self.sim.apply("churn", tenant=self.specs[index].id, update=update, seed=seed)

    def run_backend(self, db: PostgresBench | SqliteBench) -> dict[str, Any]:
        self.db = db
        args = self.args
        out: dict[str, Any] = {"label": db.label, "database": db.describe(), "scenarios": {}, "naive": {}}
        db.prepare(self.env)
        try:
            self._run_scenarios(db, out)
        finally:
            if not args.keep:
                db.drop()
        return out

    def _run_scenarios(self, db: PostgresBench | SqliteBench, out: dict[str, Any]) -> None:
        args = self.args
        scenarios = out["scenarios"]
        ids: dict[str, Any] = {}

        def new_connection() -> None:
            # Each repetition imports into a new database; the last one is re-synced below.
            ids.update(self.fresh_connection(0))

        scenarios["initial"] = self.measure(
            "initial",
            args.users,
            lambda: self.sync(ids, "initial", "initial"),
            repeat=args.repeat,
            prepare=new_connection,
        )
        # The first re-sync plans over the whole mirror and, finding nothing to write, remembers
        # its plan; every later one with nothing changed reuses it (integrations/sync/plan_memo.py).
        scenarios["no_change_planned"] = self.measure(
            "no_change_planned", args.users, lambda: self.sync(ids, label="no_change_planned")
        )
        scenarios["no_change"] = self.measure(
            "no_change", args.users, lambda: self.sync(ids, label="no_change"), repeat=args.repeat
        )
        churned, seeds = max(1, args.users // 100), itertools.count(1)

        def one_percent() -> dict[str, Any]:
            self.churn(0, churned, seed=next(seeds))  # other users each time
            return self.sync(ids, label="one_percent")

        scenarios["one_percent"] = self.measure("one_percent", args.users, one_percent, repeat=args.repeat)

        def all_titles() -> dict[str, Any]:
            self.churn(0, args.users, seed=0)
            return self.sync(ids, label="all_titles")

        scenarios["all_titles"] = self.measure("all_titles", args.users, all_titles)
        for offset, size in enumerate(args.sizes, start=1):
            sized: dict[str, Any] = {}
            scenarios[f"initial_{size}"] = self.measure(
                f"initial_{size}",
                size,
                lambda s=sized: self.sync(s, "initial"),
                prepare=lambda s=sized, o=offset: s.update(self.fresh_connection(o)),
            )
        if not args.skip_naive:
            out["naive"] = self.run_naive(len(self.sizes) - 1)
        if db.vendor == "postgresql" and args.latency_ms > 0:
            out["round_trips"] = self.measure_round_trips(args.latency_ms)

    def measure_round_trips(self, latency_ms: float) -> dict[str, Any]:
        """The initial import with `latency_ms` added to every Microsoft request, and its floor."""
        assert self.sim is not None
        ids = self.fresh_connection(0)
        busy = wait_until_quiet(patience=self.args.patience)
        self.sim.apply("set_knobs", knobs={"latency_ms": latency_ms})
        try:
            result = self.sync(ids, "initial")
        finally:
            self.sim.apply("set_knobs", knobs={"latency_ms": 0})
        requests_made = result["run"]["requests_made"]
        trips = round_trip_floor(self.args.users, requests_made, latency_ms, **result["graph_limits"])
        entry = {
            "users": self.args.users,
            "latency_ms": latency_ms,
            "seconds": result["seconds"],
            "requests_made": requests_made,
            **trips,
            "x_floor": result["seconds"] / trips["floor_seconds"] if trips["floor_seconds"] else None,
            "phases": result.get("phases", {}),
            "run": result["run"],
            "machine_busy_before": busy,
        }
        say(
            f"  {self.db.label:<10} {'initial, ' + format(latency_ms, 'g') + ' ms':<16} {self.args.users:>7} users"
            f"  {entry['seconds']:7.2f} s  ({requests_made} Graph requests: {trips['page_requests']} pages, "
            f"{trips['batch_requests']} $batch; round-trip floor {trips['floor_seconds']:.2f} s with "
            f"{trips['batch_concurrency']} $batch at a time, {trips['sequential_floor_seconds']:.2f} s one at a time)"
        )
        return entry

    def measure(self, name: str, users: int, action, repeat: int = 1, prepare=None) -> dict[str, Any]:
        """Run `action` `repeat` times, each after `prepare` (not measured) and a quiet moment."""
        runs = []
        for _ in range(repeat):
            if prepare is not None:
                prepare()
            busy = wait_until_quiet(patience=self.args.patience)
            if busy is not None and busy > 0.15:
                say(f"  (the machine is busy: {busy:.0%} of the CPU is used by other work)")
            result = action()
            result["busy_before"] = busy
            result["floor"] = self.floor(result)
            runs.append(result)
        seconds = [r["seconds"] for r in runs]
        best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # the median run
        floor = best["floor"]
        entry = {
            "users": users,
            "seconds": statistics.median(seconds),
            "runs": seconds,
            "phases": best.get("phases", {}),
            "database_activity": best.get("database", {}),
            "cpu_seconds": best.get("cpu", {}),
            "run": best["run"],
            "rss_peak_mb": max(r["rss_peak_mb"] for r in runs),
            "rss_baseline_mb": best["rss_baseline_mb"],
            "machine_busy_before": [r["busy_before"] for r in runs],
            "floor_seconds": floor["seconds"] if floor else None,
            "floor_with_foreign_keys_seconds": floor["with_foreign_keys_seconds"] if floor else None,
            "floor_with_audit_foreign_keys_seconds": floor.get("with_audit_foreign_keys_seconds")
            if floor
            else None,
            "floor_rows": floor["rows"] if floor else None,
        }
        say(
            f"  {self.db.label:<10} {name:<16} {users:>7} users  {entry['seconds']:7.2f} s"
            f"  (runs {', '.join(f'{s:.2f}' for s in seconds)}; peak RSS {entry['rss_peak_mb']:.0f} MB)"
            + (f"  floor {floor['seconds']:.2f} s" if floor else "")
        )
        return entry

    def run_naive(self, index: int) -> dict[str, Any]:
        """The naive reference on its own tenant: initial, no change, 1 %, all titles."""
        size = self.sizes[index]
        ids = self.fresh_connection(index)
        out: dict[str, Any] = {"users": size}

        def naive(name: str) -> None:
            wait_until_quiet(patience=self.args.patience)
            result = self.worker("naive", connection_id=ids["connection_id"])
            out[name] = {"seconds": result["seconds"], "run": result["run"]}
            say(f"  {self.db.label:<10} naive {name:<10} {size:>7} users  {result['seconds']:7.2f} s")

        naive("initial")
        naive("no_change")
        self.churn(index, max(1, size // 100), seed=1)
        naive("one_percent")
        self.churn(index, size, seed=0)
        naive("all_titles")
        return out

    def run(self) -> dict[str, Any]:
        args = self.args
        started = time.perf_counter()
        result: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["bench/sync_benchmark.py", *sys.argv[1:]]),
            "machine": machine(),
            "config": {
                "users": args.users,
                "sizes": args.sizes,
                "naive_users": args.naive_users,
                "repeat": args.repeat,
                "page_size": "/users 999, /users/delta 200 (Microsoft's choice)",
                "latency_ms": args.latency_ms,
                "transport": "HTTPS over loopback, simulator in a separate process",
                "rss": "getrusage(RUSAGE_SELF).ru_maxrss of the sync process (whole process)",
            },
            "backends": {},
        }
        self.start_simulator()
        try:
            for name in args.backends:
                db = PostgresBench(args.pg_url) if name == "postgresql" else SqliteBench(args.sqlite_path)
                say(f"{db.label}:")
                result["backends"][name] = self.run_backend(db)
        finally:
            if self.sim is not None:
                self.sim.stop()
        result["targets"] = report.targets(result)
        result["total_seconds"] = round(time.perf_counter() - started, 1)
        return result


def round_trip_floor(
    users: int, requests_made: int, latency_ms: float, *, max_page_size: int, batch_concurrency: int
) -> dict[str, Any]:
    """What Microsoft's latency alone costs a full pass of `users`, at Microsoft's page sizes.

    The pages are sequential (each link comes with the previous page): the delta
    baseline and `/users` at 999 per page. The rest of the run's requests are
    `$batch` mailbox lookups, which the client sends BATCH_CONCURRENCY at a time:
    counted as concurrent, they cost one round trip per BATCH_CONCURRENCY. The two
    limits come from the worker that ran the sync (this process has no Django settings,
    which importing the Graph client needs).
    """
    pages = 1 + max(1, -(-users // max_page_size))
    batches = max(0, requests_made - pages)
    trips = pages + -(-batches // batch_concurrency)
    return {
        "page_requests": pages,
        "batch_requests": batches,
        "batch_concurrency": batch_concurrency,
        "round_trips": trips,
        "floor_seconds": trips * latency_ms / 1000,
        "sequential_floor_seconds": requests_made * latency_ms / 1000,
    }


def say(text: str) -> None:
    print(text, flush=True)


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: the simulator stops and the databases are dropped."""
    import signal

    def handler(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text(encoding="utf-8"))
        print(report.render(result))
    else:
        _stop_on_sigterm()
        RESULTS.mkdir(parents=True, exist_ok=True)
        result = Bench(args).run()
        print()
        print(report.render(result))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
        print(f"\nResults written to {shown}")
    if args.docs:
        report.update_docs(args.docs, result)
        print(f"Figures written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
