"""The retention DAG: daily, one task per zone, each running the retention stage on the lake."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from tradewind.settings import RETENTION_DEFAULTS

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def retention_dag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "retention.py"))
    assert bag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in bag.import_errors.items())
    return bag.dags["retention"]


def test_the_retention_dag_runs_daily_with_a_task_per_zone(retention_dag: Any) -> None:
    assert retention_dag.timetable.expression == "0 0 * * *"
    assert retention_dag.catchup is False
    assert {t.task_id for t in retention_dag.tasks} == {f"sweep_{z}" for z in RETENTION_DEFAULTS}
    assert all(not t.upstream_task_ids for t in retention_dag.tasks)  # a zone's failure never holds up another
    assert all(t.retries >= 2 for t in retention_dag.tasks)


def test_a_sweep_task_removes_an_old_quarantine_and_returns_the_summary(retention_dag: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    old = lake / "quarantine" / "transactions" / "date=2020-01-01" / "r1" / "part-0.csv"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"a,b\n1,2\n")
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(days=400)).timestamp()
    os.utime(old, (stamp, stamp))
    validated = lake / "validated" / "transactions" / "date=2020-01-01" / "part-0.parquet"
    validated.parent.mkdir(parents=True)
    validated.write_bytes(b"PAR1")
    os.utime(validated, (stamp, stamp))
    from tradewind_airflow.operators.retention import RetentionSweepOperator

    operator = RetentionSweepOperator(task_id="t", zone="quarantine")
    operator.hook.root_uri = f"file://{lake}"
    summary = operator.execute({})
    assert summary["removed_count"] == 1
    assert summary["sweeps"][0]["removed"][0]["path"] == f"file://{old.parent}"
    assert not old.exists()
    assert validated.exists()
