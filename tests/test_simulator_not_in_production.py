"""The Microsoft simulator is a development tool: production settings do not
install it, the production image does not contain it, and product code never
imports it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_deploy_check import BASE_DIR, production, run

_INSTALLED = """
import django
django.setup()
from django.apps import apps
from django.core.management import get_commands
print(apps.is_installed("microsoft_simulator"), "microsoft_simulator" in get_commands())
"""


def test_production_settings_do_not_install_the_simulator():
    result = run("-c", _INSTALLED, DJANGO_SETTINGS_MODULE="portal.settings", **production())

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_development_settings_install_the_simulator():
    result = run("-c", _INSTALLED, DJANGO_SETTINGS_MODULE="portal.settings")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_the_production_image_leaves_the_simulator_and_dev_requirements_out():
    ignored = {line.strip() for line in (BASE_DIR / ".dockerignore").read_text().splitlines()}

    assert {"microsoft_simulator", "requirements-dev.txt", "tests", "bench"} <= ignored
    assert "trustme" not in (BASE_DIR / "requirements.txt").read_text()


def test_product_code_never_imports_the_simulator():
    importing = re.compile(r"^\s*(from|import)\s+microsoft_simulator\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(BASE_DIR))
        for package in ("portal", "integrations")
        for path in Path(BASE_DIR, package).rglob("*.py")
        if importing.search(path.read_text())
    ]

    assert offenders == []
