"""Checks on real processes for the tests of process ownership (the stage subprocess, the dev stack).

A process that has exited but was not reaped (a zombie: its parent was killed and nothing reaps
orphans in a container whose pid 1 is not an init) runs nothing, so it counts as gone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

GONE_TIMEOUT = 60.0


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running(pids: Iterable[int], timeout: float = GONE_TIMEOUT) -> list[int]:
    """Wait until none of ``pids`` runs (up to ``timeout``); those still running then."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if running(p)]) and time.monotonic() < deadline:
        psutil.wait_procs([psutil.Process(p) for p in alive if psutil.pid_exists(p)], timeout=0.2)
    return alive


def read_json_when_written(path: Path, timeout: float = GONE_TIMEOUT) -> Any:
    """The JSON document a process writes to ``path`` (atomically, by rename) once it is there."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} was not written within {timeout:.0f}s")
        time.sleep(0.05)
    return json.loads(path.read_text())
