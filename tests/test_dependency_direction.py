"""The core apps do not depend on the integration (STYLE.md, "A dependency direction
you can draw"): the integration extends them from its own side."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"
# The one module the core may use: who is integration staff (R3), a permission the
# portal's access rules (memberships, invitations, the activity log) share.
ALLOWED = {"integrations.permissions"}


def _integration_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += (
                [node.module]
                if node.module != "integrations"
                else [f"integrations.{alias.name}" for alias in node.names]
            )
    return [name for name in names if name == "integrations" or name.startswith("integrations.")]


def _imports_under(folder: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(folder.rglob("*.py")):
        names = _integration_imports(path)
        if names:
            found[str(path.relative_to(PORTAL.parent))] = names
    return found


def test_the_customers_app_does_not_import_the_integration():
    assert _imports_under(PORTAL / "customers") == {}


def test_the_portal_imports_only_the_integration_permission():
    unexpected = {
        path: [name for name in names if name not in ALLOWED]
        for path, names in _imports_under(PORTAL).items()
    }
    assert {path: names for path, names in unexpected.items() if names} == {}


def test_the_scan_sees_an_import_of_the_integration(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import integrations.models\n"
        "from integrations.admin.customers import X\n"
        "from integrations import permissions, views\n"
        "def late():\n    from integrations.services import runs\n"
    )

    assert _integration_imports(module) == [
        "integrations.models",
        "integrations.admin.customers",
        "integrations.permissions",
        "integrations.views",
        "integrations.services",
    ]
