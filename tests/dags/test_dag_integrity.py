"""DAG integrity: every DAG file imports cleanly, parses light, and follows the house defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
HEAVY = ["torch", "xgboost", "mlflow", "evidently", "great_expectations", "pandas", "sklearn", "kubernetes", "boto3"]

# Runs in a fresh interpreter: lookups of connections and Variables raise, then the DAG file is
# imported; prints which heavy modules got imported.
PROBE = """
import json, runpy, sys
from airflow.sdk import BaseHook, Variable
def refuse(*a, **k):
    raise RuntimeError("connection or Variable looked up at parse time")
BaseHook.get_connection = classmethod(refuse)
Variable.get = staticmethod(refuse)
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(m for m in HEAVY if m in sys.modules)))
"""


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dag_files_exist() -> None:
    assert {p.name for p in DAG_FILES} >= {"ingest.py", "validate.py"}


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dagbag.import_errors.items())
    assert {"ingest_transactions", "validate_transactions"} <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_light(dag_file: Path, airflow_home: Path) -> None:
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(dag_file)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"{dag_file.name} failed to import:\n{proc.stderr[-3000:]}"
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == [], f"{dag_file.name} imports {heavy} at parse time"


def test_house_defaults_on_every_dag(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert "tradewind" in (dag.tags or []), f"{dag_id}: missing tags"
        assert dag.catchup is False, f"{dag_id}: catchup must be off"
        assert dag.doc_md, f"{dag_id}: doc_md missing"
        for task in dag.tasks:
            assert task.owner == "tradewind", f"{dag_id}.{task.task_id}: owner is {task.owner}"
            assert task.retries >= 2, f"{dag_id}.{task.task_id}: retries {task.retries} < 2"


def test_ingest_is_daily_with_a_params_form_and_emits_raw(dagbag) -> None:
    dag = dagbag.dags["ingest_transactions"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "0 0 * * *"
    assert {"date", "source"} <= set(dag.params.keys())
    (task,) = dag.tasks
    assert [o.name for o in task.outlets] == ["raw/transactions"]


def test_validate_is_data_aware_on_the_raw_asset(dagbag) -> None:
    dag = dagbag.dags["validate_transactions"]
    assert dag.timetable.__class__.__name__ == "AssetTriggeredTimetable"
    assert "name='raw/transactions'" in repr(dag.timetable.asset_condition)
    validate = dag.get_task("validate_partition")
    assert [o.name for o in validate.outlets] == ["validated/transactions"]


def test_latest_event_per_date_wins() -> None:
    sys.path.insert(0, str(REPO / "dags"))
    try:
        from validate import latest_per_date
    finally:
        sys.path.remove(str(REPO / "dags"))
    events = [
        {"partition_date": "2026-01-06", "content_hash": "a"},
        {"partition_date": "2026-01-05", "content_hash": "b"},
        {"partition_date": "2026-01-06", "content_hash": "c"},
        {"no_date": True},
    ]
    assert latest_per_date(events) == [
        {"partition_date": "2026-01-05", "content_hash": "b"},
        {"partition_date": "2026-01-06", "content_hash": "c"},
    ]


def test_withdrawals_follow_the_validations_without_masking_their_state(dagbag) -> None:
    dag = dagbag.dags["validate_transactions"]
    withdrawals = dag.get_task("withdrawals")
    assert withdrawals.is_teardown
    assert withdrawals.upstream_task_ids == {"validate_partition"}
    assert [o.name for o in withdrawals.outlets] == ["withdrawn/transactions"]
