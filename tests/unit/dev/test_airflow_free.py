"""tradewind_dev drives Airflow through its CLI and REST API: it never imports Airflow.

It is neither the Airflow layer (``tradewind_airflow``) nor the core (``tradewind``), and nothing of
it runs inside an Airflow process, so importing it must not pull Airflow in either.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[3] / "include" / "tradewind_dev"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imported(path: Path) -> list[tuple[int, str]]:
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append((node.lineno, node.module))
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_airflow_import_in_source(path: Path) -> None:
    bad = [(line, n) for line, n in _imported(path) if n.split(".")[0] in ("airflow", "tradewind_airflow")]
    assert not bad, f"{path.name}:{bad[0][0]} imports {bad[0][1]}"


def test_importing_every_module_loads_no_airflow() -> None:
    names = [f"tradewind_dev.{p.stem}".removesuffix(".__init__") for p in MODULES]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'tradewind_airflow')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
