"""The "Reliability" table of docs/reliability.md, from the figures the suite records.

    python bench/reliability_report.py                      # print the table (Markdown)
    python bench/reliability_report.py --readme docs/reliability.md   # replace the table there

`tests/reliability` appends one JSON line per stress test to
`test-artifacts/reliability/figures.jsonl`. For each database the figures of
its latest full run at the largest scale recorded (`--scale` to choose) are
reported; rows show both databases side by side.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "test-artifacts" / "reliability" / "figures.jsonl"
START, END = "<!-- reliability-figures:start -->", "<!-- reliability-figures:end -->"
DATABASES = (("postgresql", "PostgreSQL"), ("sqlite", "SQLite"))

Figures = dict[str, Any]


def n(value: int) -> str:
    return f"{value:,}"


def _throttling(f: Figures) -> str:
    return (
        f"{n(f['runs'])} runs in storms ({n(f['fault_answers'])} 429/503/504 answers, "
        f"{n(f['dropped_connections'])} dropped connections, {n(f['retries'])} retries): "
        f"{n(f['converged'])} converged, {n(f['failed_cleanly'])} failed cleanly with backoff, "
        f"{n(f['violations'])} partial successes"
    )


def _kills(f: Figures) -> str:
    where = ", ".join(f"{n(count)} in {phase}" for phase, count in f["landed_in"].items())
    return f"{n(f['kills'])} SIGKILLs ({where}): {n(f['converged'])} converged to the clean state"


def _one_connection(f: Figures) -> str:
    return (
        f"{n(f['parallel_starts'])} simultaneous Sync now/scheduler starts → {n(f['runs_queued'])} runs; "
        f"{n(f['parallel_executions'])} duplicate deliveries → {n(f['runs_executed'])} executions"
    )


def _many_connections(f: Figures) -> str:
    return (
        f"{f['connections']} connections in parallel: {f['run_seconds_total']} s of runs "
        f"in {f['wall_seconds']} s, all overlapping"
    )


def _consent(f: Figures) -> str:
    return (
        f"{n(f['examples'])} examples, {n(f['callbacks'])} callbacks: {f['server_errors']} server errors, "
        f"{f['unexpected_bindings']} unexpected bindings ({f['bindings']} valid flows bound)"
    )


def _signin(f: Figures) -> str:
    return f"{n(f['examples'])} examples: {f['server_errors']} server errors, {f['bindings']} bindings"


def _isolation(f: Figures) -> str:
    return f"{f['rows']} requests × 6 visitors = {n(f['requests'])} checks: {f['leaks']} leaks"


def _bad_data(f: Figures) -> str:
    return (
        f"{f['records']} bad records: run succeeded, {f['imported']} imported, "
        f"{f['dropped_with_note']} dropped with a note, re-sync changes nothing"
    )


def _unusable(lines: list[Figures]) -> str:
    return f"{len(lines)} unusable pages: {sum(1 for f in lines if f['failed_cleanly'])} failed cleanly"


def _secrets(f: Figures) -> str:
    return (
        f"{f['secrets_checked']} secrets searched in {', '.join(f['places'])} "
        f"({n(f['characters_scanned'])} characters): {f['leaks']} found"
    )


def _csrf(f: Figures) -> str:
    return f"{f['refused']} of {f['posts_without_token']} POSTs without a token refused"


def _check_deploy(f: Figures) -> str:
    return f"`check --deploy --fail-level {f['fail_level']}`: {f['issues']} issues"


def _headers(f: Figures) -> str:
    return f"{len(f['headers'])} security headers, HTTPS redirect, Secure cookies, unknown hosts refused"


ROWS: list[tuple[str, str, Callable[[Any], str], bool]] = [
    # (label, item, formatter, formatter takes every line of the item)
    ("Throttling and outage storms", "throttling", _throttling, False),
    ("Worker killed mid-run", "crash_kills", _kills, False),
    ("Concurrent starts, one connection", "concurrency_one_connection", _one_connection, False),
    ("Concurrent runs, many connections", "concurrency_many_connections", _many_connections, False),
    ("Consent callback fuzzing", "consent_fuzzing", _consent, False),
    ("Sign-in callback fuzzing", "signin_fuzzing", _signin, False),
    ("Isolation matrix", "isolation_matrix", _isolation, False),
    ("Bad directory records", "bad_directory_data", _bad_data, False),
    ("Unusable Graph pages", "unusable_page", _unusable, True),
    ("Secrets", "secrets", _secrets, False),
    ("CSRF on every POST", "csrf", _csrf, False),
    ("Deployment check", "check_deploy", _check_deploy, False),
    ("Production headers", "security_headers", _headers, False),
]


def load(path: Path) -> list[Figures]:
    if not path.exists():
        sys.exit(f"{path} does not exist: run the suite first (see docs/reliability.md).")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def latest_figures(lines: Iterable[Figures], *, scale: int | None = None) -> dict[str, list[Figures]]:
    """database → its latest figures of each item, at the largest scale recorded (or `scale`).

    They come from the latest full run at that scale (the session with the most
    items, not a run of one file); an item it lacks comes from the latest other
    session at the same scale.
    """
    by_database: dict[str, list[Figures]] = defaultdict(list)
    for line in lines:
        by_database[line["database"]].append(line)
    latest = {}
    for database, found in by_database.items():
        wanted = scale or max(line["scale"] for line in found)
        sessions: dict[str, list[Figures]] = defaultdict(list)
        for line in found:
            if line["scale"] == wanted:
                sessions[line["session"]].append(line)
        if not sessions:
            continue
        items = {session: {line["item"] for line in lines_} for session, lines_ in sessions.items()}
        full = max(items, key=lambda session: (len(items[session]), session))
        chosen: dict[str, list[Figures]] = {}
        for session in [full, *sorted(sessions, reverse=True)]:
            for item in sorted(items[session] - set(chosen)):
                chosen[item] = [line for line in sessions[session] if line["item"] == item]
        latest[database] = [line for group in chosen.values() for line in group]
    return latest


def table(latest: dict[str, list[Figures]]) -> str:
    shown = [(key, label) for key, label in DATABASES if key in latest]
    out = [
        "| | " + " | ".join(label for _, label in shown) + " |",
        "| --- | " + " | ".join("---" for _ in shown) + " |",
    ]
    for label, item, formatter, all_lines in ROWS:
        cells = []
        for database, _ in shown:
            lines = [line for line in latest[database] if line["item"] == item]
            if not lines:
                cells.append("not run")
            else:
                cells.append(formatter(lines if all_lines else lines[-1]))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def footer(latest: dict[str, list[Figures]]) -> str:
    parts = []
    for database, label in DATABASES:
        if database in latest:
            lines = latest[database]
            sessions = sorted({line["session"] for line in lines})
            seconds = sum(line.get("seconds", 0) for line in lines)
            parts.append(
                f"{label}: RELIABILITY_SCALE={lines[0]['scale']}, sessions {', '.join(sessions)}, "
                f"stress tests {seconds:.0f} s"
            )
    return "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--figures", type=Path, default=FIGURES)
    parser.add_argument("--readme", type=Path, help=f"rewrite the text between {START} and {END}")
    parser.add_argument(
        "--scale", type=int, help="report this RELIABILITY_SCALE (default: the largest recorded)"
    )
    args = parser.parse_args(argv)
    latest = latest_figures(load(args.figures), scale=args.scale)
    text = f"{table(latest)}\n\n{footer(latest)}"
    if args.readme is None:
        print(text)
        return 0
    readme = args.readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(readme):
        sys.exit(f"{args.readme} has no {START} … {END} markers.")
    args.readme.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", readme), encoding="utf-8")
    print(f"{args.readme}: figures updated.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
