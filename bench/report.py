"""Turning benchmark results into the printed table and the target checks."""

from __future__ import annotations

from typing import Any

LABELS = {
    "initial": "initial import",
    "no_change_planned": "re-sync, no change, first (plans)",
    "no_change": "re-sync, no change (plan remembered)",
    "one_percent": "re-sync, 1 % changed",
    "all_titles": "re-sync, every title changed",
}
NAIVE_FOR = {
    "no_change_planned": "no_change",
    "no_change": "no_change",
    "one_percent": "one_percent",
    "all_titles": "all_titles",
}
PHASES = ("fetch", "fetch.mirror_writes", "classify", "plan", "apply")


def label(name: str) -> str:
    if name.startswith("initial_"):
        return "initial import"
    return LABELS.get(name, name)


def naive_seconds(backend: dict[str, Any], name: str, users: int) -> float | None:
    """The naive reference for a scenario, extrapolated linearly to `users`."""
    naive = backend.get("naive") or {}
    measured = naive.get(NAIVE_FOR.get(name, "initial"))
    if not measured or not naive.get("users"):
        return None
    return measured["seconds"] * users / naive["users"]


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def rows(result: dict[str, Any], vendor: str) -> list[dict[str, Any]]:
    backend = result["backends"][vendor]
    postgres = result["backends"].get("postgresql", {}).get("scenarios", {})
    out = []
    for name, entry in backend["scenarios"].items():
        reference = entry if entry.get("floor_seconds") is not None else postgres.get(name, {})
        floor = reference.get("floor_seconds")
        if not any((reference.get("floor_rows") or {}).values()):
            floor = None  # nothing written: no floor to compare with
        naive = naive_seconds(backend, name, entry["users"])
        out.append(
            {
                "scenario": name,
                "label": label(name),
                "users": entry["users"],
                "seconds": entry["seconds"],
                "floor_seconds": floor,
                "floor_with_foreign_keys_seconds": reference.get("floor_with_foreign_keys_seconds")
                if floor
                else None,
                "floor_with_audit_foreign_keys_seconds": reference.get(
                    "floor_with_audit_foreign_keys_seconds"
                )
                if floor
                else None,
                "x_floor": _ratio(entry["seconds"], floor),
                "naive_seconds": naive,
                "naive_speedup": _ratio(naive, entry["seconds"]),
                "vs_postgresql": _ratio(entry["seconds"], postgres.get(name, {}).get("seconds"))
                if vendor != "postgresql"
                else None,
                "rss_peak_mb": entry["rss_peak_mb"],
                "phases": entry.get("phases", {}),
                "wal_mb": (entry.get("database_activity") or {}).get("wal_bytes", 0) / 1e6 or None,
                "forced_checkpoints": (entry.get("database_activity") or {}).get("forced_checkpoints"),
                "cpu": entry.get("cpu_seconds") or {},
            }
        )
    return out


CPU_COLUMNS = "the worker (every thread), its database session, the rest of the machine, all"


def cpu_cells(row: dict[str, Any], cores: int) -> list[str]:
    """The CPU a run used, where, and the shortest it could take on this machine were every
    core busy all along: a floor set by the work, not by how it is scheduled."""
    cpu = row["cpu"]
    if "machine" not in cpu:
        return []
    session = cpu.get("database_session")
    rest = cpu["machine"] - cpu["worker"] - (session or 0.0)
    bound = cpu["machine"] / cores
    return [
        f"{cpu['worker']:.2f}",
        _fmt(session, "{:.2f}"),
        f"{rest:.2f}",
        f"{cpu['machine']:.2f}",
        f"{bound:.2f}",
        _fmt(_ratio(bound, row["floor_seconds"]), "{:.1f}x"),
    ]


def _fmt(value: float | None, pattern: str, empty: str = "-") -> str:
    return empty if value is None else pattern.format(value)


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, Django {machine['django']}",
    ]
    for vendor, backend in result["backends"].items():
        database = ", ".join(f"{k} {v}" for k, v in backend["database"].items())
        lines += ["", f"{backend['label']} ({database})"]
        header = (
            f"{'scenario':<30}{'users':>9}{'seconds':>9}{'floor s':>9}{'+FKs s':>8}{'x floor':>9}"
            f"{'naive s':>10}{'naive/this':>12}{'vs PG':>7}{'RSS MB':>8}"
        )
        lines += [header, "-" * len(header)]
        for row in rows(result, vendor):
            lines.append(
                f"{row['label']:<30}{row['users']:>9,}{row['seconds']:>9.2f}"
                f"{_fmt(row['floor_seconds'], '{:.2f}'):>9}"
                f"{_fmt(row['floor_with_foreign_keys_seconds'], '{:.2f}'):>8}{_fmt(row['x_floor'], '{:.1f}x'):>9}"
                f"{_fmt(row['naive_seconds'], '{:.1f}'):>10}{_fmt(row['naive_speedup'], '{:.0f}x'):>12}"
                f"{_fmt(row['vs_postgresql'], '{:.2f}x'):>7}{row['rss_peak_mb']:>8.0f}"
            )
        lines += ["", "  where the time goes (seconds: " + ", ".join(PHASES) + ", other; WAL MB)"]
        for row in rows(result, vendor):
            phases = row["phases"]
            other = row["seconds"] - sum(phases.get(p, 0.0) for p in PHASES if "." not in p)
            parts = "  ".join(f"{phases.get(p, 0.0):6.2f}" for p in PHASES)
            wal = _fmt(row["wal_mb"], "{:.0f}")
            lines.append(f"  {row['label']:<28}{row['users']:>9,}  {parts}  {other:6.2f}  {wal:>6}")
        cores = result["machine"]["cores"]
        lines += ["", f"  CPU seconds while it ran: {CPU_COLUMNS}; all / {cores} cores; that x floor"]
        for row in rows(result, vendor):
            cells = cpu_cells(row, cores)
            if cells:
                lines.append(
                    f"  {row['label']:<28}{row['users']:>9,}  " + "  ".join(f"{c:>6}" for c in cells)
                )
        naive = backend.get("naive")
        if naive:
            measured = ", ".join(
                f"{name} {naive[name]['seconds']:.1f} s" for name in ("initial", *NAIVE_FOR) if name in naive
            )
            lines.append(f"  naive reference measured on {naive['users']:,} users: {measured}")
    for backend in result["backends"].values():
        trips = backend.get("round_trips")
        if trips:
            lines += ["", _round_trip_text(trips)]
    lines += ["", "Targets:"]
    for target in result.get("targets", []):
        mark = "met" if target["met"] else "NOT MET"
        lines.append(f"  [{mark:>7}] {target['name']}: {target['value']} (target {target['limit']})")
    return "\n".join(lines)


def _round_trip_text(trips: dict[str, Any]) -> str:
    return (
        f"  initial import of {trips['users']:,} with {trips['latency_ms']:g} ms per Microsoft request: "
        f"{trips['seconds']:.2f} s for {trips['requests_made']:,} Graph requests "
        f"(round-trip floor {trips['floor_seconds']:.2f} s with $batch requests "
        f"{trips.get('batch_concurrency', 1)} at a time, {_fmt(trips['x_floor'], '{:.2f}x')})"
    )


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, checked on the figures of this one run."""
    checks: list[dict[str, Any]] = []

    def check(name: str, value: float | None, limit: float, fmt: str, *, at_least: bool = False) -> None:
        if value is None:
            return
        met = value >= limit if at_least else value <= limit
        sign = ">=" if at_least else "<="
        checks.append(
            {"name": name, "value": fmt.format(value), "limit": f"{sign} {fmt.format(limit)}", "met": met}
        )

    backends = result["backends"]
    pg = {row["scenario"]: row for row in rows(result, "postgresql")} if "postgresql" in backends else {}
    main = result["config"]["users"]
    if pg:
        initial = pg["initial"]
        check(f"PostgreSQL initial {main:,} vs the COPY floor", initial["x_floor"], 3.0, "{:.2f}x")
        check(
            f"PostgreSQL initial {main:,} speed-up over the naive loop",
            initial["naive_speedup"],
            20.0,
            "{:.0f}x",
            at_least=True,
        )
        check(
            f"PostgreSQL no-change re-sync of {main:,} (every one after the first: plan remembered)",
            pg["no_change"]["seconds"],
            0.6,
            "{:.2f} s",
        )
        check(f"PostgreSQL 1 % changed re-sync of {main:,}", pg["one_percent"]["seconds"], 1.0, "{:.2f} s")
        trips = backends["postgresql"].get("round_trips")
        if trips and initial["floor_seconds"] and trips.get("round_trips"):
            # Issue 20: the round trips Microsoft's latency forces, plus four times what the database needs.
            check(
                f"PostgreSQL initial {trips['users']:,} at {trips['latency_ms']:g} ms per request, "
                f"vs round-trip floor + 4x COPY floor ({trips['floor_seconds']:.1f} + "
                f"4 x {initial['floor_seconds']:.1f} s)",
                trips["seconds"],
                trips["floor_seconds"] + 4 * initial["floor_seconds"],
                "{:.2f} s",
            )
        for name, row in pg.items():
            if name.startswith("initial_") and row["users"] > main:
                factor = row["users"] / main
                check(
                    f"PostgreSQL initial {row['users']:,} / initial {main:,} (linear: {factor:.1f}x)",
                    row["seconds"] / initial["seconds"],
                    factor * 1.1,
                    "{:.2f}x",
                )
    for backend in backends.values():
        initial = backend["scenarios"]["initial"]
        check(
            f"{backend['label']} peak RSS of the initial {main:,}", initial["rss_peak_mb"], 200.0, "{:.0f} MB"
        )
    if pg and "sqlite" in backends:
        for row in rows(result, "sqlite"):
            check(
                f"SQLite / PostgreSQL, {row['label']} {row['users']:,}", row["vs_postgresql"], 2.0, "{:.2f}x"
            )
    return checks


# The block of docs/performance.md that `sync_benchmark.py --docs` rewrites.
DOCS_START, DOCS_END = "<!-- sync-benchmark:start -->", "<!-- sync-benchmark:end -->"


def markdown(result: dict[str, Any]) -> str:
    """The figures as docs/performance.md shows them."""
    machine = result["machine"]
    lines = [
        f"Measured {result['generated_at'][:10]} with `{result['command']}` on {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['memory_gib']} GiB RAM, {machine['os']}, "
        f"Python {machine['python']}, Django {machine['django']}.",
    ]
    for vendor, backend in result["backends"].items():
        database = ", ".join(f"{k} {v}" for k, v in backend["database"].items())
        vs = " | vs PostgreSQL" if vendor != "postgresql" else ""
        lines += [
            "",
            f"**{backend['label']}** ({database})",
            "",
            f"| scenario | users | seconds | floor s (+FKs; +audit FKs) | × floor | naive s | naive / this{vs} | peak RSS MB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if vs else "") + " ---: |",
        ]
        for row in rows(result, vendor):
            floor = "-"
            if row["floor_seconds"] is not None:
                floor = f"{row['floor_seconds']:.2f} ({row['floor_with_foreign_keys_seconds']:.2f}"
                audit = row.get("floor_with_audit_foreign_keys_seconds")
                floor += f"; {audit:.2f})" if audit is not None else ")"
            cells = [
                row["label"],
                f"{row['users']:,}",
                f"{row['seconds']:.2f}",
                floor,
                _fmt(row["x_floor"], "{:.1f}×"),
                _fmt(row["naive_seconds"], "{:.0f}"),
                _fmt(row["naive_speedup"], "{:.0f}×"),
            ]
            if vs:
                cells.append(_fmt(row["vs_postgresql"], "{:.2f}×"))
            cells.append(f"{row['rss_peak_mb']:.0f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Where the time goes (seconds):", ""]
        lines += [
            "| scenario | users | fetch (of which mirror writes) | classify | plan | apply | other | WAL MB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in rows(result, vendor):
            phases = row["phases"]
            other = row["seconds"] - sum(phases.get(p, 0.0) for p in PHASES if "." not in p)
            lines.append(
                f"| {row['label']} | {row['users']:,} | {phases.get('fetch', 0):.2f} "
                f"({phases.get('fetch.mirror_writes', 0):.2f}) | {phases.get('classify', 0):.2f} | "
                f"{phases.get('plan', 0):.2f} | {phases.get('apply', 0):.2f} | {other:.2f} | "
                f"{_fmt(row['wal_mb'], '{:.0f}')} |"
            )
        cores = result["machine"]["cores"]
        cpu_rows = [(row, cpu_cells(row, cores)) for row in rows(result, vendor)]
        if any(cells for _, cells in cpu_rows):
            lines += [
                "",
                "CPU seconds used while it ran, on the whole machine (the simulator and PostgreSQL share its "
                f"{cores} cores with the sync), and the shortest the run could take were every core busy all along:",
                "",
                "| scenario | users | worker (every thread) | its database session | rest of the machine | all "
                f"| all / {cores} cores | × floor |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for row, cells in cpu_rows:
                if cells:
                    cells = [c.replace("x", "×") if c.endswith("x") else c for c in cells]
                    lines.append(f"| {row['label']} | {row['users']:,} | " + " | ".join(cells) + " |")
    for backend in result["backends"].values():
        trips = backend.get("round_trips")
        if trips:
            lines += [
                "",
                f"With {trips['latency_ms']:g} ms added to every Microsoft request ({backend['label']}):",
                "",
                "| scenario | users | seconds | Graph requests (pages + `$batch`) | round-trip floor s "
                "(`$batch` one at a time) | × floor |",
                "| --- | ---: | ---: | ---: | ---: | ---: |",
                f"| initial import | {trips['users']:,} | {trips['seconds']:.2f} | {trips['requests_made']:,} "
                f"({trips.get('page_requests', '?')} + {trips.get('batch_requests', '?')}) | "
                f"{trips['floor_seconds']:.2f} ({trips.get('sequential_floor_seconds', trips['floor_seconds']):.2f}) | "
                f"{_fmt(trips['x_floor'], '{:.2f}×')} |",
                "",
                f"The floor counts the `$batch` requests {trips.get('batch_concurrency', 1)} at a time, "
                "as the client sends them; the pages are sequential.",
            ]
    lines += ["", "Targets, checked on the figures of this one run:", ""]
    for target in result.get("targets", []):
        mark = "met" if target["met"] else "**not met**"
        lines.append(f"* {target['name']}: {target['value']} (target {target['limit']}): {mark}")
    return "\n".join(lines)


def update_docs(path, result: dict[str, Any]) -> None:
    """Replace the figures between the benchmark markers of `path` (docs/performance.md)."""
    from pathlib import Path

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {DOCS_START} ... {DOCS_END} block")
    block = f"{DOCS_START}\n{markdown(result)}\n{DOCS_END}"
    path.write_text(text[:start] + block + text[end + len(DOCS_END) :], encoding="utf-8")
