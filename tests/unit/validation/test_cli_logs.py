"""``python -m tradewind validate`` as the task runs it: its log is the stage's lines, not the libraries'."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.unit.helpers import DAY

pytestmark = pytest.mark.unit


def stage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradewind", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_a_validation_logs_its_own_lines_and_no_library_chatter(tmp_path) -> None:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    root = f"file://{tmp_path}/lake"
    common = ["--dataset", "transactions", "--date", DAY.isoformat(), "--root", root]
    assert stage("ingest", *common, env=env).returncode == 0
    done = stage("validate", *common, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert any("passed" in line and "tradewind" in line for line in lines), done.stderr[-2000:]
    chatty = [line for line in lines if " INFO great_expectations" in line or " INFO alembic" in line]
    assert chatty == []
    assert len(lines) < 40, f"{len(lines)} log lines:\n" + "\n".join(lines[:60])
