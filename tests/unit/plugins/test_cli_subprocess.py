"""A stage run as a subprocess of the worker: its log streams in, its JSON result comes back whole.

A wide data set's drift summary (or any large result) can pass the pipe's buffer, and its progress lines
can too; neither side may wait on the other. The stage dies with its task: a task process killed with
SIGKILL, on_kill and a timeout leave no stage process (nor what the stage started) running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.unit.processes import read_json_when_written, running, still_running
from tradewind.procs import PARENT_DEATH_SIGNAL
from tradewind_airflow.operators.cli import StageSubprocessMixin

pytestmark = pytest.mark.unit

CHATTY = """
import json, sys
for i in range(3000):
    print(f"progress line {i} " + "x" * 40, file=sys.stderr, flush=True)
print(json.dumps({"features": [{"column": f"f{i}", "note": "y" * 200} for i in range(1500)]}))
print("last line", file=sys.stderr, flush=True)
sys.exit(int(sys.argv[1]))
"""


class _Step(StageSubprocessMixin):
    stage_module = "chatty_cli"


@pytest.fixture
def cli_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "chatty_cli.py").write_text(CHATTY)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "chatty_cli"


@pytest.mark.timeout(60)
def test_a_large_result_and_a_long_log_both_come_through(cli_module, capsys):
    step = _Step(task_id="step")
    result = step.run_stage(["0"], "chatty step")
    assert len(result["features"]) == 1500  # ~330 KB of JSON, past any pipe buffer
    logged = "".join(capsys.readouterr())  # the task log (Airflow's structured logging prints it)
    assert logged.count("progress line ") == 3000
    assert "last line" in logged


@pytest.mark.timeout(60)
def test_exit_codes_say_refused_or_failed(cli_module):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="the chatty step refused its input"):
        _Step(task_id="a").run_stage(["2"], "chatty step")
    with pytest.raises(RuntimeError, match="the chatty step failed with exit code 1"):
        _Step(task_id="b").run_stage(["1"], "chatty step")
    with pytest.raises(RuntimeError, match="the chatty step failed with exit code 3"):
        _Step(task_id="c").run_stage(["3"], "chatty step")  # a "no" is a failure unless the caller takes it
    assert len(_Step(task_id="d").run_stage(["3"], "chatty step", rejected_ok=True)["features"]) == 1500


# --- the stage dies with its task ------------------------------------------------------------------
# argv: <pid file> <mode>. Starts a worker the way the trainer starts its workers (start_owned: dies with
# the stage) and a helper in its own group that ignores SIGTERM, then writes the three pids. "wait"
# sleeps; "leave" prints its outcome and exits, leaving the helper running with the stage's stderr.
STAGE = """
import json, os, signal, subprocess, sys, time
from tradewind.procs import start_owned
path, mode = sys.argv[1], sys.argv[2]
worker = start_owned([sys.executable, "-c", "import time; time.sleep(600)"])
ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
helper = subprocess.Popen([sys.executable, "-c", ignores], stdout=subprocess.PIPE)
helper.stdout.readline()
with open(path + ".tmp", "w") as out:
    json.dump({"stage": os.getpid(), "worker": worker.pid, "helper": helper.pid}, out)
os.replace(path + ".tmp", path)
if mode == "leave":
    print(json.dumps({"ok": True}))
    sys.exit(0)
time.sleep(600)
"""

# A task process: runs the stage through the operator's run_stage, as a worker's task does.
TASK = """
import sys
from tradewind_airflow.operators.cli import StageSubprocessMixin

class Step(StageSubprocessMixin):
    stage_module = "owning_stage"

Step(task_id="step").run_stage(sys.argv[1:], "owning stage")
"""


class _Owning(StageSubprocessMixin):
    stage_module = "owning_stage"
    stage_kill_grace_s = 0.5


@pytest.fixture
def owning_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "owning_stage.py").write_text(STAGE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return tmp_path / "pids.json"


@pytest.mark.timeout(120)
@pytest.mark.skipif(not PARENT_DEATH_SIGNAL, reason="the parent-death signal is Linux's")
def test_sigkill_of_the_task_process_leaves_no_stage_process(owning_stage: Path) -> None:
    task = subprocess.Popen([sys.executable, "-c", TASK, str(owning_stage), "wait"])
    pids = read_json_when_written(owning_stage)
    assert all(running(p) for p in pids.values())

    task.kill()  # as a task whose process group was killed, or an OOM kill: no on_kill, no finally
    task.wait()

    assert still_running([pids["stage"], pids["worker"]]) == [], "the stage or its worker outlived its task"
    os.kill(pids["helper"], signal.SIGKILL)  # a child left in the group without the parent-death signal


@pytest.mark.timeout(120)
def test_on_kill_ends_the_stage_and_everything_it_started(owning_stage: Path) -> None:
    step = _Owning(task_id="step")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            step.run_stage([str(owning_stage), "wait"], "owning stage")
        except BaseException as err:
            failure.append(err)

    runner = threading.Thread(target=run)
    runner.start()
    pids = read_json_when_written(owning_stage)

    step.on_kill()  # the helper ignores SIGTERM: the group is killed after the grace period
    runner.join(60)

    assert not runner.is_alive()
    assert still_running(pids.values()) == []
    assert failure
    assert "failed with exit code" in str(failure[0])


@pytest.mark.timeout(120)
def test_a_timeout_in_the_task_ends_the_stage_group(owning_stage: Path) -> None:
    """Airflow's execution_timeout raises in the task's main thread (SIGALRM) while it waits on the stage."""

    class TaskTimeout(Exception):
        pass

    def timeout(signum: int, frame: object) -> None:
        raise TaskTimeout

    previous = signal.signal(signal.SIGUSR1, timeout)
    waiter = threading.Thread(
        target=lambda: (read_json_when_written(owning_stage), os.kill(os.getpid(), signal.SIGUSR1))
    )
    waiter.start()
    try:
        with pytest.raises(TaskTimeout):
            _Owning(task_id="step").run_stage([str(owning_stage), "wait"], "owning stage")
    finally:
        waiter.join(60)
        signal.signal(signal.SIGUSR1, previous)

    assert still_running(read_json_when_written(owning_stage).values()) == []


@pytest.mark.timeout(120)
def test_a_stage_that_exits_leaving_a_child_on_its_pipes_returns_and_the_child_is_killed(owning_stage: Path) -> None:
    result = _Owning(task_id="step").run_stage([str(owning_stage), "leave"], "owning stage")

    assert result == {"ok": True}
    assert still_running(read_json_when_written(owning_stage).values()) == []
