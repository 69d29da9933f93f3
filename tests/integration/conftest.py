"""Shared pieces of the integration tier: a throwaway PostgreSQL database, free ports, waiting."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tradewind_airflow.devstack import AirflowStack

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
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

    On a failure while starting, the components' logs are printed; the stack stops afterwards.
    """
    from tradewind_airflow.devstack import AirflowStack

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
