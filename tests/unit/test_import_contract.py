"""The layers are checked by a tool: `lint-imports` keeps the contract in .importlinter, and breaks it
for an import that points up a layer, into Airflow from the core, or makes a cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tradewind.config import REPO_ROOT

pytestmark = pytest.mark.unit

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{root / 'include'}{os.pathsep}{root / 'plugins'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        capture_output=True, text=True, timeout=180, check=False, cwd=root, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and the contract, to break on purpose."""
    root = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("include/tradewind", "include/tradewind_dev", "plugins/tradewind_airflow"):
        shutil.copytree(REPO_ROOT / package, root / package, ignore=ignore)
    shutil.copy(REPO_ROOT / ".importlinter", root / ".importlinter")
    return root


def _with_line(tree: Path, module: str, line: str) -> Path:
    path = tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(f"{original}\n{line}\n", encoding="utf-8")
    return path


def test_the_repository_keeps_its_contract():
    result = _lint(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "include/tradewind/data/spec.py",
            "from tradewind.settings import get_settings  # noqa",
            "tradewind.data is not allowed to import tradewind.settings: - tradewind.data.spec -> tradewind.settings",
        ),
        (
            "include/tradewind/registry/gate.py",
            "import tradewind.stages.plan  # noqa",
            "tradewind.registry is not allowed to import tradewind.stages: "
            "- tradewind.registry.gate -> tradewind.stages.plan",
        ),
        (
            "include/tradewind/training/trainer.py",
            "from airflow.sdk import Asset  # noqa",
            "tradewind is not allowed to import airflow",
        ),
        (
            "include/tradewind/storage.py",
            "import tradewind_dev.stack  # noqa",
            "tradewind is not allowed to import tradewind_dev",
        ),
    ],
    ids=["up-a-layer", "into-the-stages", "airflow-in-the-core", "dev-tooling"],
)
def test_a_forbidden_import_breaks_it(tree: Path, module: str, line: str, broken: str):
    path = tree / module
    original = path.read_text(encoding="utf-8")
    try:
        _with_line(tree, module, line)
        result = _lint(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    assert "BROKEN" in text
    assert broken in text, result.stdout[-3000:]
