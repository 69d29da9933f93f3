"""The drift DAG: hourly, a form for the window, check then announce; the train DAG retrains on drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradewind.data.spec import load_spec
from tradewind.monitoring.config import drift_config
from tradewind.settings import REPO_ROOT

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO_ROOT / "include" / "config" / "datasets" / "transactions.yaml"


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in bag.import_errors.items())
    return bag


@pytest.fixture(scope="module")
def drift_dag(dagbag: Any) -> Any:
    assert "drift_transactions" in dagbag.dag_ids
    return dagbag.dags["drift_transactions"]


def test_the_drift_dag_runs_hourly_without_catchup(drift_dag: Any) -> None:
    assert type(drift_dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert drift_dag.timetable.expression == "0 * * * *"
    assert drift_dag.catchup is False
    assert drift_dag.max_active_runs == 1
    assert "monitoring" in drift_dag.tags


def test_the_form_offers_the_window_with_the_specs_default(drift_dag: Any) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    assert set(drift_dag.params.keys()) == {"window_hours", "end"}
    expected = drift_config(load_spec(SPEC)).window_hours
    assert expected == 24  # the shipped spec's drift.window_hours
    window = drift_dag.params.get_param("window_hours")
    assert window.value == expected
    assert window.schema["type"] == "number"
    window.resolve(6)  # a narrower window is accepted ...
    with pytest.raises(ParamValidationError):
        window.resolve(0)  # ... an empty one is not
    end = drift_dag.params.get_param("end")
    assert end.value is None  # empty: the scheduled hour, or now
    assert end.schema["type"] == ["null", "string"]
    assert end.schema["format"] == "date-time"


def test_check_drift_feeds_announce_drift_which_emits_the_drift_asset(drift_dag: Any) -> None:
    assert sorted(drift_dag.task_ids) == ["announce_drift", "check_drift"]
    check, announce = drift_dag.get_task("check_drift"), drift_dag.get_task("announce_drift")
    assert type(check).__name__ == "DriftCheckOperator"
    assert check.dataset == "transactions"
    assert check.downstream_task_ids == {"announce_drift"}
    assert announce.upstream_task_ids == {"check_drift"}
    assert check.outlets == []  # only a found drift emits the Asset
    assert [o.name for o in announce.outlets] == ["drift/transactions"]
    # The form's values reach the check through its templated fields.
    assert "params.window_hours" in check.window_hours
    assert "params.end" in check.end


@pytest.mark.parametrize("status", ["no_drift", "skipped"])
def test_announce_drift_skips_unless_the_check_found_drift(drift_dag: Any, status: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    announce = drift_dag.get_task("announce_drift")
    check = {"status": status, "reason": "no inference log yet" if status == "skipped" else None}
    with pytest.raises(AirflowSkipException, match=f"^{status}: "):
        announce.python_callable(check)


def test_the_train_dag_is_triggered_by_validated_data_or_by_drift(dagbag: Any) -> None:
    from airflow.sdk.definitions.asset import Asset, AssetAny

    dag = dagbag.dags["train_transactions"]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAny)  # either Asset alone triggers a run (OR, not AND)
    assert all(isinstance(o, Asset) for o in condition.objects)
    assert sorted(o.name for o in condition.objects) == ["drift/transactions", "validated/transactions"]
    # The drift DAG emits the very Asset the train DAG waits on.
    drift = dagbag.dags["drift_transactions"].get_task("announce_drift").outlets[0]
    assert drift in condition.objects


@pytest.mark.parametrize(
    ("run_type", "end", "expected"),
    [
        ("scheduled", None, "interval"),
        ("backfill", None, "interval"),  # a backfilled hour is checked as it was, not as of now
        ("manual", None, "now"),
        ("asset_triggered", None, "now"),
        ("manual", "2026-01-08T06:00", "given"),
    ],
)
def test_the_window_ends_where_the_run_says(
    drift_dag: Any, monkeypatch: pytest.MonkeyPatch, run_type: str, end: str | None, expected: str
) -> None:
    import datetime as dt
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType

    task = drift_dag.get_task("check_drift")
    interval_end = dt.datetime(2026, 1, 8, 13, tzinfo=dt.UTC)
    context: Any = {"data_interval_end": interval_end, "dag_run": SimpleNamespace(run_type=DagRunType(run_type))}
    monkeypatch.setattr(task, "end", end)  # as rendered from the form
    before = dt.datetime.now(dt.UTC)
    got = task.window_end(context)
    if expected == "interval":
        assert got == interval_end
    elif expected == "now":
        assert before <= got <= dt.datetime.now(dt.UTC)
    else:
        assert got == dt.datetime(2026, 1, 8, 6, tzinfo=dt.UTC)
