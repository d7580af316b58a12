"""The layout's contracts (.importlinter): the engine stands alone, and data flows one way.

Each contract is checked twice: on the tree as it is (kept), and on a copy with one forbidden
import added (broken), so a contract that could never fail does not pass for a kept one.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("tda", "streams", "alerts", "anomalies", "accounts", "realtime", "topoforge")


def lint_imports(root):
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: `make install-dev` installs import-linter")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / ".importlinter")],
        cwd=root, capture_output=True, text=True, timeout=120,
    )


def copy_of_project(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "static", "samples"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("tda/scoring.py", "import django", "tda is not allowed to import django"),
    ("tda/betti.py", "from anomalies import models", "tda is not allowed to import anomalies"),
    ("anomalies/models.py", "from streams import pipeline", "anomalies.models is not allowed to import streams"),
    ("streams/store.py", "from alerts import matching", "streams is not allowed to import alerts"),
    ("alerts/delivery.py", "from realtime import hub", "alerts is not allowed to import realtime"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    project = copy_of_project(tmp_path)
    with open(project / module, "a") as source:
        source.write(f"\n{line}\n")
    result = lint_imports(project)
    assert result.returncode == 1
    assert broken in " ".join(result.stdout.split())
