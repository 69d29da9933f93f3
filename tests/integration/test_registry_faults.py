"""A real ``mlflow server`` killed (SIGKILL) at each step of a promotion's alias move, restarted, retried.

The writer is a child process forked from the test. It logs a training run, registers its version
and sets it as ``challenger`` (what the ``promote`` stage does with a passing candidate), through a
client that, right after its n-th write to the server, kills the server's whole process group and
then itself: the deterministic hook of :mod:`tests.unit.registry.crash`, no timing. The server is
started again on the same store and the task's next try runs the same promotion, as Airflow's
retry would: the ``promote`` stage's repair first, then the work. After every step:

- aliases and history agree (``check_consistency``), the challenger is the run's version;
- one version per run (no duplicate from the retry), no run left RUNNING;
- a registry lock the dead writer held was taken over because its lease ran out (the lease is
  1 s here, ``TRADEWIND_REGISTRY_LEASE_S``; 30 s by default, inside the DAG's retry window), and a
  lock it did not hold is not "taken over".

SQLite backend; the server's job runner is off (it is not part of the registry). ~1.5 minutes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import free_port, wait_until
from tests.unit.registry.crash import CrashingClient

pytestmark = pytest.mark.integration

DAG, RUN, TASK = "train_transactions", "manual__fault", "promote"
EXPERIMENT = "registry-faults"


class MlflowServer:
    """``mlflow server`` on a SQLite store and a local artifact folder, in its own process group."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination", str(self.folder / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with (self.folder / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        wait_until(self.healthy, 120, f"mlflow server on {self.uri}", every=0.2)

    def healthy(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log_tail()
        try:
            return requests.get(f"{self.uri}/health", timeout=2).ok
        except requests.RequestException:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def log_tail(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServer(folder)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)  # the whole group: uvicorn runs as a child


@pytest.fixture(autouse=True)
def _client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_REGISTRY_LEASE_S", "1")
    # A connection kept alive to the killed server is retried once; a dead server fails fast.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def promotion(client: Any, name: str, data: str, try_number: int) -> str:
    """The registry side of one passing ``promote`` try: log (or reuse) the run, register, set challenger."""
    from tradewind.registry.aliases import set_challenger
    from tradewind.registry.tracking import log_training_run
    from tradewind.registry.versions import register_version

    ids = {"dag_id": DAG, "run_id": RUN, "task_id": TASK, "try_number": try_number}
    run = log_training_run(
        client, EXPERIMENT, framework="sklearn", params={"C": 1.0}, metrics={"pr_auc": 0.5},
        data_hashes={"transactions/2026-01-05": data}, code_revision="abc1234", model_logger=lambda _: None,
        airflow_context=ids,
    )  # fmt: skip
    version = str(register_version(client, name, run.run_id).version)
    set_challenger(client, name, version, reason="gate passed", triggered_by=f"{DAG}/{RUN}")
    return version


def _seed(uri: str, name: str) -> str:
    """A champion for ``name`` (its own run), as a promotion before this one left it."""
    from tradewind.registry.aliases import CHAMPION, move_alias
    from tradewind.registry.store import make_client
    from tradewind.registry.tracking import log_training_run
    from tradewind.registry.versions import register_version

    client = make_client(uri)
    run = log_training_run(
        client, EXPERIMENT, framework="sklearn", params={"C": 1.0}, metrics={}, data_hashes={"seed": name},
        code_revision="abc1234", model_logger=lambda _: None,
    )  # fmt: skip
    version = str(register_version(client, name, run.run_id).version)
    move_alias(client, name, CHAMPION, version, reason="seed", triggered_by="test", expected_current=None)
    return version


def _dying_try(uri: str, name: str, data: str, after: int, server_pid: int) -> None:
    """The first try, in a forked child: it kills the server and itself right after its ``after``-th write."""
    from tradewind.registry.store import make_client

    def crash() -> None:
        os.killpg(server_pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    promotion(CrashingClient(make_client(uri), after=after, on_crash=crash), name, data, try_number=1)
    os._exit(3)  # not reached: the step was not a write of this promotion


def _kill_points(uri: str) -> list[tuple[int, str]]:
    """The writes of one promotion, counted on a dry run: every step of the alias move, plus the run's
    creation (a run left RUNNING) and the version's (a version the retry must not register twice)."""
    from tradewind.registry.store import make_client

    name = "fault-dry-run"
    _seed(uri, name)
    counting = CrashingClient(make_client(uri), after=None)
    promotion(counting, name, "dry", try_number=1)
    promotion_writes = list(enumerate(counting.writes, 1))
    move_start = next(n for n, w in promotion_writes if w == "create_model_version#1") + 2  # after the lock release
    picked = [(n, w) for n, w in promotion_writes if w in ("create_run#1", "create_model_version#1") or n >= move_start]
    assert [w for _, w in picked if w.startswith("set_registered_model_alias")] == ["set_registered_model_alias#1"]
    return picked


def test_a_promotion_killed_with_its_server_at_each_step_is_completed_by_the_retry(server: MlflowServer) -> None:
    from tradewind.registry.aliases import CHALLENGER, CHAMPION, check_consistency, current, repair
    from tradewind.registry.store import LOCK_SUFFIX, make_client, takeovers

    assert server.proc is not None
    points = _kill_points(server.uri)
    assert len(points) >= 8, points
    fork = multiprocessing.get_context("fork")
    for after, step in points:
        name, data = f"fault-{after}", f"data-{after}"
        champion = _seed(server.uri, name)
        child = fork.Process(target=_dying_try, args=(server.uri, name, data, after, server.proc.pid))
        child.start()
        child.join(120)
        assert child.exitcode == -signal.SIGKILL, f"{step}: the first try ended with {child.exitcode}"
        server.proc.wait(timeout=30)  # the child killed it
        server.start()

        client = make_client(server.uri)
        held = client.search_registered_models(filter_string=f"name = '{name}{LOCK_SUFFIX}'")
        repair(client, name, triggered_by=f"{DAG}/{RUN}")  # what the promote stage does first
        version = promotion(client, name, data, try_number=2)

        assert check_consistency(client, name) == [], step
        assert (current(client, name, CHAMPION), current(client, name, CHALLENGER)) == (champion, version), step
        versions = client.search_model_versions(f"name = '{name}'")
        assert sorted(int(v.version) for v in versions) == [1, 2], f"{step}: {[v.run_id for v in versions]}"
        experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
        running = client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
        assert running == [], f"{step}: runs left RUNNING {[r.info.run_id for r in running]}"
        taken = takeovers(client, name)
        if held:  # the dead try held the lock: the retry took it over once its lease ran out
            (takeover,) = taken
            assert takeover["holder"].startswith(f"{socket.gethostname()}:{child.pid}:"), step
            assert takeover["reason"].startswith("lease expired"), step
        else:
            assert taken == [], step
        assert not client.search_registered_models(filter_string=f"name = '{name}{LOCK_SUFFIX}'"), step
