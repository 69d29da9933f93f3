"""ruff, as `make lint` runs it with the project's settings, refuses a heavy module-level import in a DAG
file or the Airflow layer (TID253) and a function past the complexity limit (C901)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tradewind.config import REPO_ROOT

pytestmark = pytest.mark.unit

RUFF = Path(sys.executable).with_name("ruff")
BRANCHY = "def f(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(11)) + "    return -1\n"


def _ruff(tmp_path: Path, relative: str, source: str) -> str:
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise", "--select", "TID253,C901", relative],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    return result.stdout


@pytest.mark.parametrize("where", ["dags/pipeline.py", "plugins/tradewind_airflow/operators/x.py"])
def test_a_heavy_import_at_the_top_of_a_dag_or_operator_file_is_refused(tmp_path, where):
    out = _ruff(tmp_path, where, "import pandas as pd\n\nprint(pd)\n")
    assert "banned-module-level-imports: `pandas` is banned at the module level" in out


def test_the_core_may_import_them_at_the_top(tmp_path):
    assert "banned" not in _ruff(tmp_path, "include/tradewind/x.py", "import pandas as pd\n\nprint(pd)\n")


def test_a_function_past_the_complexity_limit_is_refused(tmp_path):
    assert "complex-structure: `f` is too complex (12 > 10)" in _ruff(tmp_path, "include/tradewind/x.py", BRANCHY)
