"""Shared pieces of the integration tier: a throwaway PostgreSQL database, free ports, waiting, and a
running Airflow stack configured as a user's (DAGs paused at creation; a test unpauses what it drives)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tradewind_dev.stack import AirflowStack

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"success", "failed", "upstream_failed"}


def pg_reachable() -> bool:
    try:
        with socket.create_connection((PG["host"], PG["port"]), timeout=2):
            return True
    except OSError:
        return False


def psql(sql: str) -> None:
    command = ["psql", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], "-d", "postgres"]
    subprocess.run([*command, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 2.0) -> Any:
    """The first truthy value of ``predicate()``; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def airflow_db() -> Iterator[str]:
    """A fresh PostgreSQL database for one module's Airflow metadata (dropped afterwards)."""
    if not pg_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run should have started it)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    db = f"tradewind_it_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {db}")
    try:
        yield f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{db}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@contextlib.contextmanager
def running_stack(
    home: Path, db_url: str, env: dict[str, str], dags: Sequence[str], components: Sequence[str]
) -> Iterator[AirflowStack]:
    """Airflow on ``db_url`` with ``env`` for its tasks, healthy, with ``dags`` parsed and unpaused.

    The stack runs with the configuration a user gets (``AirflowStack`` leaves this test session's
    Airflow settings out, unit-test mode above all): every DAG is paused at creation, and only
    ``dags`` are unpaused here; a test unpauses any other DAG it drives itself. On a failure while
    starting, the components' logs are printed; the stack stops afterwards.
    """
    from tradewind_dev.stack import AirflowStack

    stack = AirflowStack(home, port=free_port(), profile="demo", components=tuple(components), db_url=db_url)
    stack.env.update(env)
    try:
        stack.migrate()
        stack.start()
        stack.wait_healthy(timeout=240)
        stack.wait_for_dags(list(dags), timeout=240)
        for dag_id in dags:
            stack.unpause(dag_id)
        yield stack
    except Exception:
        for log in sorted((home / "logs").glob("*.log")):
            print(f"==== {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stack.stop()


def assert_untouched_dags_stay_paused(stack: AirflowStack, driven: Collection[str], dags_folder: Path) -> None:
    """Every DAG of ``dags_folder`` but ``driven`` is paused and has no run: the stack ran nothing unasked.

    Waits until each file of the folder has been parsed, so a DAG parsed late cannot slip through.
    """
    files = {p.name for p in dags_folder.glob("*.py")}

    def parsed() -> list[dict[str, Any]]:
        dags: list[dict[str, Any]] = stack.api("GET", "/dags", params={"limit": 1000})["dags"]
        return dags if files <= {Path(d["fileloc"]).name for d in dags} else []

    try:
        dags = wait_until(parsed, 240, f"every DAG file of {dags_folder} parsed")
    except AssertionError as err:
        errors = stack.api("GET", "/importErrors").get("import_errors", [])
        raise AssertionError(f"{err}; import errors: {[e['filename'] for e in errors]}") from None
    untouched = sorted(d["dag_id"] for d in dags if d["dag_id"] not in driven)
    assert untouched, "no DAG the test left alone: nothing to check"
    unpaused = [d["dag_id"] for d in dags if d["dag_id"] in untouched and not d["is_paused"]]
    runs = {dag_id: [r["dag_run_id"] for r in stack.runs(dag_id)] for dag_id in untouched}
    runs = {dag_id: ids for dag_id, ids in runs.items() if ids}
    assert not unpaused, f"DAGs the test never unpaused are running unpaused: {unpaused}"
    assert not runs, f"DAGs the test never drove have runs: {runs}"
