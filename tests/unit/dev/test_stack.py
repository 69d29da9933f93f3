"""The local stack: its processes (stop ends every one of them, promptly; a dead one reads as dead) and its environment.

Stand-in commands take the components' place (``FakeStack.command``) and start through the stack's own
``start``: each in its own session, recorded in the state file, with the stack's id in its environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.processes import read_json_when_written, running, still_running
from tradewind_dev.stack import STACK_ID_ENV, AirflowStack, StackError, airflow_env, without_airflow_config

pytestmark = pytest.mark.unit

STOP_TIMEOUT = 60.0
SLEEPS = "import time; time.sleep(600)"
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
)
# A scheduler as LocalExecutor runs it: a worker in its group (a multiprocessing child) and a task's stage
# in a session of its own (a grandchild that left the group); both inherit the environment. Writes the pids.
SCHEDULER = """
import json, os, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
stage = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
path = sys.argv[1]
with open(path + ".tmp", "w") as out:
    json.dump({"scheduler": os.getpid(), "worker": worker.pid, "stage": stage.pid}, out)
os.replace(path + ".tmp", path)
time.sleep(600)
"""


class FakeStack(AirflowStack):
    def __init__(self, home: Path, commands: dict[str, list[str]]) -> None:
        super().__init__(home, port=1, components=tuple(commands))
        self.commands = commands

    def command(self, component: str) -> list[str]:
        return self.commands[component]


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def _stop_from_another_process(home: Path) -> subprocess.CompletedProcess[str]:
    """`make stop`: a new process that knows the stack only by its home."""
    env = {**os.environ, "TRADEWIND_AIRFLOW_HOME": str(home)}
    command = [sys.executable, "-m", "tradewind_dev.stack", "stop"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=STOP_TIMEOUT * 2, check=False)


def test_stop_returns_as_soon_as_its_own_components_have_exited(tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "home", {"scheduler": _python(SLEEPS), "triggerer": _python(SLEEPS)})
    stack.start()
    pids = [stack.pid(c) for c in stack.components]
    assert stack.running() == ["scheduler", "triggerer"]

    started = time.monotonic()
    stack.stop(timeout=STOP_TIMEOUT)
    took = time.monotonic() - started

    # Far below the timeout however loaded the machine is: waiting it out is the bug this guards against.
    assert took < STOP_TIMEOUT / 2, f"stop waited {took:.1f}s for components that had exited on SIGTERM"
    assert still_running(p for p in pids if p) == []
    assert stack.running() == []


def test_stop_kills_a_component_that_ignores_sigterm_after_the_timeout(tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "home", {"scheduler": _python(IGNORES_SIGTERM)})
    stack.start()
    pid = stack.pid("scheduler")
    assert pid is not None
    log = stack.log_dir / "scheduler.log"
    deadline = time.monotonic() + STOP_TIMEOUT
    while "up" not in log.read_text() and time.monotonic() < deadline:  # its handler is set
        time.sleep(0.05)

    started = time.monotonic()
    stack.stop(timeout=1)

    assert time.monotonic() - started >= 1  # it gave SIGTERM its time, then killed
    assert still_running([pid]) == []
    assert stack.running() == []


def test_a_component_that_died_reads_as_not_running_and_wait_healthy_names_it(tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "home", {"scheduler": _python(SLEEPS), "triggerer": ["false"]})
    stack.start()
    deadline = time.monotonic() + 10
    while stack.pid("triggerer") is not None and time.monotonic() < deadline:
        time.sleep(0.05)

    assert stack.pid("triggerer") is None, "an exited component still reads as running"
    assert stack.running() == ["scheduler"]
    with pytest.raises(StackError, match=r"triggerer exited; see .*logs"):
        stack.wait_healthy(timeout=30)
    stack.stop(timeout=5)


def test_make_stop_ends_every_process_after_the_scheduler_was_killed(tmp_path: Path) -> None:
    """The scheduler killed with SIGKILL: its worker, a task's stage that left its group, the other
    components and the model server all end with `make stop`; processes of no stack or of another stay."""
    pid_file = tmp_path / "scheduler.json"
    home = tmp_path / "home"
    stack = FakeStack(home, {"scheduler": _python(SCHEDULER, str(pid_file)), "triggerer": _python(SLEEPS)})
    stack.start()
    server = stack.launch("model-server", _python(SLEEPS), stack.log_dir / "model-server.log")
    pids = read_json_when_written(pid_file)
    triggerer = stack.pid("triggerer")
    assert triggerer is not None
    others = [
        subprocess.Popen(_python(SLEEPS), start_new_session=True),  # no stack's
        subprocess.Popen(_python(SLEEPS), env={**os.environ, STACK_ID_ENV: "another"}, start_new_session=True),
    ]
    try:
        os.kill(pids["scheduler"], signal.SIGKILL)
        assert still_running([pids["scheduler"]]) == []
        assert running(pids["worker"])
        assert running(pids["stage"])  # orphans now: nothing else would end them

        result = _stop_from_another_process(home)

        assert result.returncode == 0, result.stderr
        assert "triggerer" in result.stdout
        assert still_running([*pids.values(), triggerer, server.pid]) == []
        assert json.loads(stack.state_file.read_text())["processes"] == {}
        assert all(running(p.pid) for p in others), "stop ended a process that was not the stack's"
    finally:
        for proc in others:
            proc.kill()
            proc.wait()
        server.wait()


def test_a_stack_runs_with_the_configuration_a_user_gets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the starting process carries for Airflow stays out: the test session's unit-test mode
    (every DAG unpaused at creation), another Airflow's database; connections and the rest pass."""
    monkeypatch.setenv("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://elsewhere/airflow")
    monkeypatch.setenv("AIRFLOW_CONFIG", "/elsewhere/airflow.cfg")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://warehouse/db")
    monkeypatch.setenv("TRADEWIND_STORAGE_ROOT", "file:///lake")

    env = airflow_env(tmp_path / "home", port=8123, profile="demo")

    assert "AIRFLOW__CORE__UNIT_TEST_MODE" not in env
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env  # SQLite in the stack's home
    assert "AIRFLOW_CONFIG" not in env
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert env["AIRFLOW_CONN_WAREHOUSE"] == "postgresql://warehouse/db"
    assert env["TRADEWIND_STORAGE_ROOT"] == "file:///lake"
    assert env["TRADEWIND_PROFILE"] == "demo"
    stack = AirflowStack(tmp_path / "other", port=8124, db_url="postgresql+psycopg2://it/db")
    assert stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://it/db"
    assert "AIRFLOW__CORE__UNIT_TEST_MODE" not in stack.env


def test_without_airflow_config_keeps_connections_and_variables() -> None:
    environ = {
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW_HOME": "/h",
        "AIRFLOW_CONN_X": "c",
        "AIRFLOW_VAR_Y": "v",
        "PATH": "/bin",
    }
    assert without_airflow_config(environ) == {"AIRFLOW_CONN_X": "c", "AIRFLOW_VAR_Y": "v", "PATH": "/bin"}
