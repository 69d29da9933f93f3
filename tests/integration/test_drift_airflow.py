"""The retrain loop through real Airflow: drift in the inference log starts the train DAG through an Asset.

Set-up, outside Airflow: three validated days in a lake, a champion trained on them (its reference
logged with the version, as the promote step does), and an inference log of a day the champion
served drifted traffic (covariate shift). Then, on real Airflow (scheduler, dag-processor,
api-server on PostgreSQL):

1. a drift check over a window with no log succeeds, says ``skipped: ...`` and emits nothing;
2. a check over the drifted day finds drift, writes the Evidently report to the lake and to the
   champion's MLflow run, and emits ``drift/transactions``, which starts ``train_transactions``:
   it trains and registers a new version;
3. with a new validated day in the lake (so the data changed), a second drift event starts the
   train DAG again, and the retrain governance skips it: the last retrain is inside the cooldown.

Beside the loop, ``score_transactions`` scores a validated day from its form with the champion and emits
``scores/transactions`` with the scores' lineage.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import TERMINAL, running_stack, wait_until
from tradewind_dev.stack import AirflowStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL = "transactions"
TRAIN, DRIFT, SCORE = f"train_{MODEL}", f"drift_{MODEL}", f"score_{MODEL}"
DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]
# The champion served drifted traffic of the day after its data; that day is validated later (step 3).
SERVED = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
WINDOW = {"end": "2026-03-05T00:00:00+00:00", "window_hours": 24}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A lake with validated days, a champion with its reference, and a drifted day of its traffic."""
    from tradewind.data import synthetic
    from tradewind.data.ingest import ingest_partition
    from tradewind.data.validated import load_validated
    from tradewind.monitoring.reference import REFERENCE_FILE, reference_for_model, save_reference
    from tradewind.registry.aliases import CHAMPION, move_alias
    from tradewind.registry.pyfunc import pyfunc_logger
    from tradewind.registry.store import make_client
    from tradewind.registry.tracking import log_training_run
    from tradewind.registry.versions import register_version
    from tradewind.serving.config import InferenceLogConfig
    from tradewind.serving.inference_log import InferenceLogWriter, ScoredBatch
    from tradewind.settings import load_settings
    from tradewind.training.trainer import train
    from tradewind.validation.runner import validate_partition

    base = tmp_path_factory.mktemp("drift-world")
    lake = f"file://{base / 'lake'}"
    spec = load_settings("demo").spec(MODEL)
    for day in DAYS:
        validate_partition(spec, lake, day, raw_lineage=ingest_partition(spec, lake, day))
    rows = load_validated(spec, lake, DAYS)
    params = {"num_boost_round": 40, "max_depth": 3, "nthread": 1}
    result = train(spec, rows, "xgboost", params, data_hashes={d: f"drift-it-{d}" for d in DAYS})
    folder = base / "champion"
    result.model.save(str(folder))
    save_reference(reference_for_model(result.model, rows, spec), str(folder / REFERENCE_FILE))
    uri = f"sqlite:///{base / 'mlflow.db'}"
    client = make_client(uri)
    # Logged in an experiment of its own: an imported champion, not a retrain the governance counts.
    run = log_training_run(
        client,
        "drift-it-seed",
        framework="xgboost",
        params=params,
        metrics=result.metrics,
        data_hashes={f"{MODEL}/{d}": f"drift-it-{d}" for d in DAYS},
        code_revision="integration",
        model_logger=pyfunc_logger(folder, rows),
    )
    version = str(register_version(client, MODEL, run.run_id).version)
    move_alias(client, MODEL, CHAMPION, version, reason="test", triggered_by="test", expected_current=None)

    served = synthetic.generate_day(
        SERVED.date(), rows_per_day=3000, drift=synthetic.DriftKnobs(covariate_shift=1.0)
    ).drop(columns=[spec.label])
    writer = InferenceLogWriter(lake, spec, InferenceLogConfig(flush_interval_s=600, flush_rows=10**6))
    writer.start()
    scores = result.model.predict_proba(served)
    assert writer.put(ScoredBatch(served, scores, "champion", version, "r1", "e", False, SERVED))
    assert writer.flush()
    writer.close()
    return {
        "lake": lake,
        "spec": spec,
        "uri": uri,
        "client": client,
        "champion": version,
        "run_id": run.run_id,
        "served_rows": len(served),
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, airflow_db: str, world: dict[str, Any]) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("airflow-home")
    # The DAGs of the loop and batch scoring: the daily ingest's own run would land a validated day (and a retrain).
    dags = tmp_path_factory.mktemp("dags")
    for name in ("drift.py", "train.py", "score.py"):
        (dags / name).symlink_to(REPO / "dags" / name)
    env = {
        "TRADEWIND_STORAGE_ROOT": world["lake"],
        "MLFLOW_TRACKING_URI": world["uri"],
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
    }
    with running_stack(home, airflow_db, env, [DRIFT, TRAIN], ("scheduler", "dag-processor", "api-server")) as st:
        yield st


def _finished(stack: AirflowStack, dag_id: str, run_id: str, timeout: float = 600) -> dict[str, Any]:
    return wait_until(
        lambda: (r := stack.run(dag_id, run_id))["state"] in TERMINAL and r, timeout, f"{dag_id} run {run_id}"
    )


def _states(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {t["task_id"]: t["state"] for t in stack.task_instances(dag_id, run_id)}


def _drift_check(stack: AirflowStack, conf: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    run_id = stack.trigger(DRIFT, conf)
    run = _finished(stack, DRIFT, run_id)
    assert run["state"] == "success", (run, _states(stack, DRIFT, run_id))
    return run_id, stack.xcom(DRIFT, run_id, "check_drift")


def _drift_events(stack: AirflowStack) -> list[dict[str, Any]]:
    events = stack.api("GET", "/assets/events", params={"source_dag_id": DRIFT, "limit": 100})["asset_events"]
    return [e for e in events if e.get("source_dag_id") == DRIFT]


def _asset_train_runs(stack: AirflowStack) -> list[dict[str, Any]]:
    runs = [r for r in stack.runs(TRAIN) if r["run_type"] == "asset_triggered"]
    return sorted(runs, key=lambda r: r["run_after"])


def test_drift_starts_the_train_dag_and_the_cooldown_holds_the_next_retrain(
    stack: AirflowStack, world: dict[str, Any]
) -> None:
    from tradewind.data.ingest import ingest_partition
    from tradewind.stages.drift import DRIFT_TAG
    from tradewind.storage import as_path
    from tradewind.validation.runner import validate_partition

    client, champion = world["client"], world["champion"]

    # 1. No log in the window: the run succeeds, says why, and emits nothing.
    run_id, check = _drift_check(stack, {"end": "2026-02-01T00:00:00+00:00", "window_hours": 24})
    assert check["status"] == "skipped"
    assert check["reason"].startswith("no inference log for transactions between"), check
    assert _states(stack, DRIFT, run_id)["announce_drift"] == "skipped"
    assert _drift_events(stack) == []

    # 2. The drifted day: drift found, reported, announced; the Asset starts the train DAG.
    run_id, check = _drift_check(stack, WINDOW)
    assert check["status"] == "drift", check
    assert "amount" in check["drifted_features"], check
    assert check["model_version"] == champion
    assert check["data_until"] == "2026-03-04"  # the retrain's window ends on the traffic's day
    assert check["window"]["rows_seen"] == world["served_rows"]
    assert _states(stack, DRIFT, run_id)["announce_drift"] == "success"
    html = as_path(check["report"])
    assert html.name == "drift_report.html"
    assert html.exists()
    assert f"/reports/drift/{MODEL}/v{champion}/" in check["report"]
    assert (html.parent / "drift_summary.json").exists()
    logged = [a.path for a in client.list_artifacts(world["run_id"], "drift")]
    assert len(logged) == 1, logged
    assert {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(world["run_id"], logged[0])} == {
        "drift_report.html",
        "drift_summary.json",
    }
    tag = json.loads(client.get_model_version(MODEL, champion).tags[DRIFT_TAG])
    assert tag["status"] == "drift"
    (event,) = _drift_events(stack)
    assert event["extra"]["drifted_features"] == check["drifted_features"]
    assert event["extra"]["report"] == check["report"]

    first = wait_until(lambda: _asset_train_runs(stack)[:1], 300, "the train DAG to start on the drift event")[0]
    first = _finished(stack, TRAIN, first["dag_run_id"], timeout=900)
    tasks = _states(stack, TRAIN, first["dag_run_id"])
    assert first["state"] == "success", tasks
    assert tasks["plan"] == "success", tasks
    assert tasks["train_local"] == "success", tasks
    assert stack.xcom(TRAIN, first["dag_run_id"], "plan", key="trigger") == "drift"
    assert "retrain allowed" in stack.xcom(TRAIN, first["dag_run_id"], "plan", key="governance")
    assert stack.xcom(TRAIN, first["dag_run_id"], "plan")["dates"] == DAYS
    upstream = stack.api("GET", f"/dags/{TRAIN}/dagRuns/{first['dag_run_id']}/upstreamAssetEvents")["asset_events"]
    assert [e["extra"]["status"] for e in upstream] == ["drift"]
    outcome = stack.xcom(TRAIN, first["dag_run_id"], "promote", key="outcome")
    assert int(outcome["version"]) > int(champion)
    assert outcome["champion_before"] == champion

    # 3. New data, drift again: the train DAG starts, and the cooldown skips the retrain.
    day = SERVED.date().isoformat()
    validate_partition(
        world["spec"], world["lake"], day, raw_lineage=ingest_partition(world["spec"], world["lake"], day)
    )
    _drift_check(stack, WINDOW)
    assert len(_drift_events(stack)) == 2
    runs = wait_until(lambda: (r := _asset_train_runs(stack))[1:] and r, 300, "a second drift-triggered train run")
    second = _finished(stack, TRAIN, runs[1]["dag_run_id"], timeout=600)
    tasks = _states(stack, TRAIN, second["dag_run_id"])
    assert second["state"] == "success", tasks
    assert tasks["plan"] == "skipped", tasks
    reason = stack.xcom(TRAIN, second["dag_run_id"], "plan", key="governance")
    assert "retrain.cooldown_minutes" in reason, reason
    assert tasks.get("train_local") == "skipped"


def test_the_champion_scores_a_validated_day_from_the_form(stack: AirflowStack, world: dict[str, Any]) -> None:
    from tradewind.data.reader import read_stored
    from tradewind.storage import as_path, read_manifest

    stack.unpause(SCORE)
    run_id = stack.trigger(SCORE, {"date": DAYS[0]})
    run = _finished(stack, SCORE, run_id)
    assert run["state"] == "success", (run, _states(stack, SCORE, run_id))
    events = stack.api("GET", "/assets/events", params={"source_dag_id": SCORE, "limit": 10})["asset_events"]
    (event,) = [e for e in events if e.get("source_dag_id") == SCORE]
    extra = event["extra"]
    assert extra["partition_date"] == DAYS[0]
    assert extra["model_version"] == world["champion"]
    assert extra["model_run_id"] == world["run_id"]
    partition = as_path(extra["partition_uri"])
    manifest = read_manifest(partition)
    assert manifest is not None
    scores = read_stored(partition, manifest)
    assert set(scores["model_version"]) == {world["champion"]}
    assert len(scores) == extra["row_count"]
