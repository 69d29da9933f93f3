"""Children that die with their parent (tradewind.procs), on real processes.

A chain parent -> child -> grandchild, each started with ``start_owned``: SIGKILL of the parent leaves
nothing running. ``stop_group`` ends a child and what it started in its group, also a process that
ignores SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.processes import read_json_when_written, running, still_running
from tradewind.procs import PARENT_DEATH_SIGNAL, start_owned, stop_group, wait_owned

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]

# argv: <pid file> <depth>. Starts the next link with start_owned while depth > 0; the last link
# writes every pid of the chain (parent first) to the pid file.
CHAIN = """
import json, os, sys, time
from tradewind.procs import start_owned
path, depth, pids = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
pids.append(os.getpid())
if depth:
    start_owned([sys.executable, "-c", sys.argv[4], path, str(depth - 1), json.dumps(pids), sys.argv[4]])
else:
    with open(path + ".tmp", "w") as out:
        json.dump(pids, out)
    os.replace(path + ".tmp", path)
time.sleep(600)
"""

# Ignores SIGTERM, starts a child of its own in its group (which ignores it too), says "up", sleeps.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", ignores], stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not PARENT_DEATH_SIGNAL, reason="the parent-death signal is Linux's")
def test_sigkill_of_the_parent_ends_the_whole_chain_of_owned_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "chain.json"
    parent = subprocess.Popen([sys.executable, "-c", CHAIN, str(pid_file), "2", "[]", CHAIN])
    chain = read_json_when_written(pid_file)
    assert chain[0] == parent.pid
    assert len(chain) == 3
    assert all(running(p) for p in chain)

    parent.kill()
    parent.wait()

    assert still_running(chain[1:]) == [], "an owned child outlived the parent killed with SIGKILL"


def test_stop_group_ends_the_child_and_what_it_started_even_when_they_ignore_sigterm() -> None:
    proc = start_owned([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    assert os.getpgid(grandchild) == proc.pid  # the child leads its own group; its children stay in it
    assert os.getpgid(proc.pid) != os.getpgid(0)

    code = stop_group(proc, grace_s=0.5)

    assert code == -signal.SIGKILL  # SIGTERM was ignored: the group was killed after the grace period
    assert still_running([proc.pid, grandchild]) == []


def test_wait_owned_kills_what_the_child_left_in_its_group() -> None:
    leaves = "import subprocess, sys; c = subprocess.Popen(['sleep', '600']); print(c.pid, flush=True)"
    proc = start_owned([sys.executable, "-c", leaves], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    left = int(proc.stdout.readline())

    assert wait_owned(proc) == 0
    assert still_running([left]) == []
