"""Imports run one way (STYLE.md): badgepulse (the CLI) > api | streams > core > schemas.

The contracts live in pyproject.toml ([tool.importlinter]); these tests run import-linter's
own command on the tree, and on a copy of it with one wrong import to show the check bites."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml")],
                          cwd=tree, capture_output=True, text=True, timeout=120, check=False)


def copy_of_the_tree(dest: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    for package in PYPROJECT["tool"]["importlinter"]["root_packages"]:
        shutil.copytree(ROOT / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def test_every_package_the_project_ships_is_under_a_contract() -> None:
    shipped = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]
               ["include"]}
    assert set(PYPROJECT["tool"]["importlinter"]["root_packages"]) == shipped


def test_imports_run_one_way_in_the_tree() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_core_importing_the_web_layer_breaks_the_layers(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / "core" / "status.py").open("a") as f:
        f.write("\nfrom api.deps import get_layout  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "core.status -> api.deps" in result.stdout


def test_a_cli_module_other_than_the_entry_point_may_not_import_the_web_layer(
        tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / "badgepulse" / "ops.py").open("a") as f:
        f.write("\nfrom api.deps import get_layout  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "badgepulse.ops -> api.deps" in result.stdout


def test_the_writer_and_the_reader_do_not_import_each_other(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / "streams" / "sink.py").open("a") as f:
        f.write("\nfrom api.readers.scope import ReadQuery  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "streams.sink -> api.readers.scope" in result.stdout
