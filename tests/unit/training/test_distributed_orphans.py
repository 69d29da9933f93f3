"""A distributed trainer's workers die with it: SIGKILL of the trainer (its task was killed) leaves none running.

The trainer runs as the stage runs it, ``python -m tradewind train --workers 2``; once its workers are
up (the XGBoost workers, or torchrun and its DDP ranks) it is killed with SIGKILL, which no handler sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.unit.processes import GONE_TIMEOUT, still_running
from tradewind.procs import PARENT_DEATH_SIGNAL
from tradewind.training import distributed

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(not PARENT_DEATH_SIGNAL, reason="the parent-death signal is Linux's"),
]

# Far more rounds than the test lets it run: the workers are busy when the trainer is killed.
XGB_FOREVER = {"num_boost_round": 10_000_000, "early_stopping_rounds": 0, "nthread": 1, "max_depth": 2}
TORCH_FOREVER = {"epochs": 100_000}


def _start_trainer(lake, out: Path, framework: str, params: dict) -> subprocess.Popen[str]:
    args = ["train", "--framework", framework, "--root", str(lake.root), "--dates", lake.date_arg]
    args += ["--out", str(out), "--params", json.dumps(params), "--workers", "2"]
    env = {**os.environ, distributed.RENDEZVOUS_TIMEOUT_ENV: "120"}
    return subprocess.Popen([sys.executable, "-m", "tradewind", *args], env=env, stderr=subprocess.PIPE, text=True)


def _descendants_with(trainer: subprocess.Popen[str], variable: str, count: int) -> list[int]:
    """The trainer's descendants whose environment sets ``variable``, once there are ``count``."""
    deadline = time.monotonic() + GONE_TIMEOUT
    while time.monotonic() < deadline:
        found = []
        for child in psutil.Process(trainer.pid).children(recursive=True):
            try:
                if variable in child.environ():
                    found.append(child.pid)
            except psutil.Error:
                continue
        if len(found) >= count:
            return found
        assert trainer.poll() is None, "the trainer exited before its workers were up"
        time.sleep(0.1)
    raise TimeoutError(f"{count} workers with {variable} did not start within {GONE_TIMEOUT:.0f}s")


def _kill(trainer: subprocess.Popen[str]) -> None:
    trainer.kill()
    trainer.communicate()


@pytest.mark.timeout(180)
def test_sigkill_of_an_xgboost_trainer_ends_its_workers(lake, tmp_path):
    trainer = _start_trainer(lake, tmp_path / "m", "xgboost", XGB_FOREVER)
    workers = _descendants_with(trainer, "DMLC_TASK_ID", 2)

    _kill(trainer)

    assert still_running(workers) == [], "an XGBoost worker outlived its trainer"


@pytest.mark.timeout(240)
def test_sigkill_of_a_torch_trainer_ends_torchrun_and_its_ranks(lake, tmp_path):
    trainer = _start_trainer(lake, tmp_path / "m", "torch", TORCH_FOREVER)
    ranks = _descendants_with(trainer, "LOCAL_RANK", 2)
    torchrun = [p.pid for p in psutil.Process(trainer.pid).children()]
    assert trainer.stderr is not None
    for line in trainer.stderr:  # each rank asks for the parent-death signal before it joins the group
        if "DDP rank" in line:
            break

    _kill(trainer)

    assert still_running([*torchrun, *ranks]) == [], "torchrun or a rank outlived its trainer"
