"""The local stack: its processes (stop ends components promptly, a dead one reads as dead) and its environment.

``make demo`` and the integration tests start the stack and stop it from the same process, so the
components are that process's children. Stand-in processes take the components' place here (each
in its own session, with its pid in the stack's run folder, as ``start`` leaves them).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradewind_dev.stack import AirflowStack, StackError, airflow_env, without_airflow_config

pytestmark = pytest.mark.unit

STOP_TIMEOUT = 60.0
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)"
)


def _stack(tmp_path: Path) -> AirflowStack:
    stack = AirflowStack(tmp_path / "home", port=1, components=("scheduler", "triggerer"))
    stack.run_dir.mkdir(parents=True)
    return stack


def _component(stack: AirflowStack, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE)
    (stack.run_dir / f"{name}.pid").write_text(str(proc.pid))
    return proc


def _gone(proc: subprocess.Popen[bytes]) -> bool:
    try:
        proc.wait(timeout=0.1)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_stop_returns_as_soon_as_its_own_components_have_exited(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    procs = [_component(stack, name, ["sleep", "120"]) for name in stack.components]
    assert stack.running() == ["scheduler", "triggerer"]

    started = time.monotonic()
    stack.stop(timeout=STOP_TIMEOUT)
    took = time.monotonic() - started

    # Far below the timeout however loaded the machine is: waiting it out is the bug this guards against.
    assert took < STOP_TIMEOUT / 2, f"stop waited {took:.1f}s for components that had exited on SIGTERM"
    assert all(_gone(p) for p in procs)
    assert stack.running() == []
    assert not list(stack.run_dir.glob("*.pid"))


def test_stop_kills_a_component_that_ignores_sigterm_after_the_timeout(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    stubborn = _component(stack, "scheduler", [sys.executable, "-c", IGNORES_SIGTERM])
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"up\n"  # its handler is set

    started = time.monotonic()
    stack.stop(timeout=1)
    took = time.monotonic() - started

    assert took >= 1  # it gave SIGTERM its time, then killed
    assert _gone(stubborn)
    assert stack.running() == []


def test_a_component_that_died_reads_as_not_running_and_wait_healthy_names_it(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    _component(stack, "scheduler", ["sleep", "120"])
    crashed = _component(stack, "triggerer", ["false"])
    deadline = time.monotonic() + 10
    while stack.pid("triggerer") is not None and time.monotonic() < deadline:
        time.sleep(0.05)

    assert stack.pid("triggerer") is None, "an exited component still reads as running"
    assert stack.running() == ["scheduler"]
    with pytest.raises(StackError, match=r"triggerer exited; see .*logs"):
        stack.wait_healthy(timeout=30)
    assert _gone(crashed)
    stack.stop(timeout=5)


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
