"""The score DAG: on each validated day (one mapped task per day) or from the form; emits scores/<dataset>."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def score_dag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "score.py"))
    assert bag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in bag.import_errors.items())
    return bag.dags["score_transactions"]


def _event(extra: dict[str, Any]) -> Any:
    return SimpleNamespace(extra=extra)


def test_scoring_is_scheduled_on_the_validated_asset_and_emits_the_scores_asset(score_dag: Any) -> None:
    assert type(score_dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert "name='validated/transactions'" in repr(score_dag.timetable.asset_condition)
    assert sorted(score_dag.task_ids) == ["partitions", "score_partition"]
    scored = score_dag.get_task("score_partition")
    assert scored.operator_class.__name__ == "PartitionScoreOperator"  # local profile: a worker subprocess
    assert [o.name for o in scored.outlets] == ["scores/transactions"]
    assert scored.upstream_task_ids == {"partitions"}
    assert scored.partial_kwargs["dataset"] == "transactions"


def test_one_task_per_validated_day_of_the_events_else_the_forms_date(score_dag: Any) -> None:
    partitions = score_dag.get_task("partitions").python_callable
    events = {
        "validated/transactions": [
            _event({"partition_date": "2026-01-06", "content_hash": "a"}),
            _event({"partition_date": "2026-01-05", "content_hash": "b"}),
            _event({"partition_date": "2026-01-06", "content_hash": "c"}),
        ]
    }
    assert [(p["partition_date"], p["content_hash"]) for p in partitions(events, {"date": None})] == [
        ("2026-01-05", "b"),
        ("2026-01-06", "c"),
    ]
    assert partitions({}, {"date": "2026-01-07", "version": None}) == [{"partition_date": "2026-01-07"}]
    with pytest.raises(ValueError, match="nothing to score"):
        partitions({}, {"date": None})


def test_the_form_takes_a_date_and_an_optional_version(score_dag: Any) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    assert set(score_dag.params.keys()) == {"date", "version"}
    version = score_dag.params.get_param("version")
    assert version.value is None  # the champion
    assert version.resolve(3) == 3
    with pytest.raises(ParamValidationError):
        version.resolve(0)


@pytest.mark.parametrize(("version", "expected"), [(None, []), (2, ["--version", "2"])])
def test_the_stage_gets_the_day_and_the_forms_version(score_dag: Any, version: Any, expected: list[str]) -> None:
    from tradewind_airflow.operators.score import PartitionScoreOperator, score_arguments

    mapped = score_dag.get_task("score_partition")
    task = PartitionScoreOperator(
        task_id="score_partition",
        dataset="transactions",
        version=mapped.partial_kwargs["version"],
        partition={"partition_date": "2026-01-08", "content_hash": "abc"},
    )
    context: Any = {"params": {"date": None, "version": version}}
    task.render_template_fields(context, jinja_env=score_dag.get_template_env())
    arguments = score_arguments(task.dataset, task.partition, task.version, "file:///lake", context)
    assert arguments == [
        "score", "--dataset", "transactions", "--date", "2026-01-08", "--root", "file:///lake", *expected,
    ]  # fmt: skip


def test_the_scores_event_carries_the_lineage_and_who_validated_the_day() -> None:
    from tradewind_airflow.operators.score import finish_scoring

    outlet = object()
    events: dict[Any, Any] = {outlet: SimpleNamespace(extra=None)}
    ti = SimpleNamespace(dag_id="score_transactions", run_id="r", task_id="score_partition", try_number=1)
    outcome = {"partition_date": "2026-01-08", "model_version": "3", "validated_content_hash": "h"}
    validated = {"partition_date": "2026-01-08", "airflow": {"dag_id": "validate_transactions"}}
    extra = finish_scoring({"ti": ti, "outlet_events": events}, [outlet], outcome, validated)  # type: ignore[arg-type]
    assert events[outlet].extra == extra
    assert extra["model_version"] == "3"
    assert extra["validated_content_hash"] == "h"
    assert extra["validated_by"] == {"dag_id": "validate_transactions"}
    assert extra["airflow"]["dag_id"] == "score_transactions"
