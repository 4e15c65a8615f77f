"""A run's status has one owner: `SyncRun` (integrations/models.py) changes it,
through conditional updates, and no other product module writes it.

design.md §8: transitions written from several modules drifted apart (a
reaper and a worker could both decide a run's end); one owner keeps every
transition a compare-and-set on the run's current status."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "integrations" / "models.py"
WRITING_CALLS = {"update", "create", "get_or_create", "update_or_create", "bulk_update", "bulk_create"}


def product_modules() -> list[Path]:
    return [
        path
        for package in ("integrations", "portal")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts and path != OWNER
    ]


def status_writes(source: str) -> list[int]:
    """Lines that set a `status` through the ORM, or assign `<object>.status` (not an exception's own)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in WRITING_CALLS and any(kw.arg == "status" for kw in node.keywords):
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and not (isinstance(target.value, ast.Name) and target.value.id == "self")
                ):
                    lines.append(node.lineno)
    return lines


def test_only_the_run_model_writes_a_runs_status():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in product_modules()
        for line in status_writes(path.read_text(encoding="utf-8"))
    ]

    assert offenders == []


def test_the_scan_finds_each_kind_of_status_write():
    source = (
        "SyncRun.objects.filter(pk=1).update(status='failed')\n"
        "run.status = 'running'\n"
        "SyncRun.objects.create(customer=c, status='queued')\n"
        "class Refused(Exception):\n"
        "    def __init__(self):\n"
        "        self.status = 400\n"
    )

    assert sorted(status_writes(source)) == [1, 2, 3]
