"""The model server and batch scoring answer each task: a multiclass and a regression model, trained by the
real trainer on small synthetic sets (tests/unit/training/task_data.py), logged as pyfunc models and
registered in the session's MLflow store, served through ``create_app`` with the real registry loader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from tests.unit.serving.conftest import AUTH, TOKEN, server_of
from tests.unit.training.task_data import GRADES, task_frame, task_spec
from tradewind.data.ingest import VALIDATED, partition_path
from tradewind.data.reader import read_stored
from tradewind.data.spec import DatasetSpec
from tradewind.registry.pyfunc import pyfunc_logger
from tradewind.registry.tracking import log_training_run
from tradewind.registry.versions import register_version
from tradewind.serving.app import create_app
from tradewind.serving.batch_scoring import SCORES, ScoringModel, score_partition
from tradewind.serving.config import parse_serving_config
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.serving.inference_log import log_schema
from tradewind.storage import PartitionWriter, read_manifest
from tradewind.training.model import TrainedModel, load_model
from tradewind.training.trainer import train

pytestmark = pytest.mark.unit

PARAMS = {"num_boost_round": 20, "max_depth": 3, "nthread": 1}
ROWS = 1200
DAY = "2026-01-06"


@dataclass(frozen=True)
class Served:
    spec: DatasetSpec
    name: str  # the registered model
    model: TrainedModel  # the champion, loaded from its folder
    rows: pd.DataFrame  # raw rows, label included


@pytest.fixture(scope="module")
def registered(client: MlflowClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Served]:
    """Per task: a model trained on its rows, registered as version 1 (champion) and 2 (challenger).
    The binary one's label is text ('No' / 'Yes'), which the server once refused."""
    out = {}
    for task in ("binary", "multiclass", "regression"):
        spec, rows = task_spec(task), task_frame(task, rows=ROWS)
        name = f"serving-{task}"
        for version, params in (("1", PARAMS), ("2", {**PARAMS, "num_boost_round": 5})):
            result = train(spec, rows, "xgboost", params, data_hashes={DAY: f"{task}-{version}"})
            model_dir = tmp_path_factory.mktemp(f"{task}-{version}")
            result.model.save(str(model_dir))
            run = log_training_run(
                client, "serving-task-tests", framework="xgboost", params=params, metrics=result.metrics,
                data_hashes={f"{spec.name}/{DAY}": f"{task}-{version}"}, code_revision="test",
                model_logger=pyfunc_logger(model_dir, rows),
            )  # fmt: skip
            assert register_version(client, name, run.run_id).version == int(version)
            if version == "1":
                champion = load_model(str(model_dir))
        client.set_registered_model_alias(name, CHAMPION, "1")
        client.set_registered_model_alias(name, CHALLENGER, "2")
        out[task] = Served(spec=spec, name=name, model=champion, rows=rows)
    return out


@pytest.fixture
def serve_task(store: str, registered: dict[str, Served], tmp_path: Path) -> Iterator[Any]:
    """``serve_task(task)``: a started TestClient on the task's registered model, and its log root."""
    clients: list[TestClient] = []

    def start(task: str) -> TestClient:
        served = registered[task]
        config = {
            "model_name": served.name,
            "dataset": served.spec.name,
            "reload_interval_s": 3600,
            "inference_log": {"flush_interval_s": 3600, "flush_rows": 100_000},
        }
        app = create_app(
            parse_serving_config(config),
            tracking_uri=store,
            spec=served.spec,
            log_root=f"file://{tmp_path / 'lake'}",
            admin_token=TOKEN,
        )
        server_of(app).holder.refresh()
        http = TestClient(app, raise_server_exceptions=False)
        http.__enter__()
        clients.append(http)
        return http

    yield start
    for http in clients:
        http.__exit__(None, None, None)


def instances(served: Served, rows: pd.DataFrame) -> dict[str, Any]:
    """Rows as a client posts them: no label, ISO timestamps."""
    records = rows.drop(columns=[served.spec.label]).to_json(orient="records", date_format="iso")
    return {"instances": json.loads(records)}


def predict(http: TestClient, served: Served, rows: pd.DataFrame) -> list[Any]:
    response = http.post("/predict", json=instances(served, rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["variant"] == CHAMPION
    assert body["model_version"] == "1"
    return body["predictions"]


def read_log(root: Path, dataset: str) -> pd.DataFrame:
    files = sorted(root.glob(f"lake/inference/{dataset}/date=*/part-*.parquet"))
    assert files, f"no inference log files under {root}"
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def metric(http: TestClient, line_start: str) -> float:
    lines = [line for line in http.get("/metrics").text.splitlines() if line.startswith(line_start + " ")]
    assert len(lines) == 1, line_start
    return float(lines[0].rsplit(" ", 1)[1])


def test_multiclass_answers_the_predicted_class_and_every_class_probability(serve_task, registered):
    served = registered["multiclass"]
    http = serve_task("multiclass")
    rows = served.rows.tail(200)
    answers = predict(http, served, rows)

    assert len(answers) == 200
    assert all(set(a) == {"class", "probabilities"} for a in answers)
    assert all(list(a["probabilities"]) == GRADES for a in answers)  # the spec's class order
    probabilities = np.array([[a["probabilities"][g] for g in GRADES] for a in answers])
    np.testing.assert_allclose(probabilities, served.model.predict_proba(rows), rtol=1e-12)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    predicted = [a["class"] for a in answers]
    assert predicted == [GRADES[i] for i in probabilities.argmax(axis=1)]
    # The names are the classes the model learnt: most answers are the rows' own grade.
    assert np.mean(np.array(predicted) == rows["grade"].to_numpy()) > 0.7


def test_regression_answers_the_value(serve_task, registered):
    served = registered["regression"]
    http = serve_task("regression")
    rows = served.rows.tail(200)
    answers = predict(http, served, rows)

    assert all(isinstance(a, float) for a in answers)
    np.testing.assert_allclose(answers, served.model.predict_proba(rows), rtol=1e-12)
    truth = rows["price"].to_numpy()
    r2 = 1 - np.sum((truth - np.array(answers)) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert r2 > 0.5  # values on the target's own scale, not probabilities


def test_a_binary_text_label_answers_the_positive_class_probability(serve_task, registered):
    served = registered["binary"]  # churn 'No' / 'Yes', positive_class 'Yes'
    rows = served.rows.tail(200)
    answers = predict(serve_task("binary"), served, rows)
    np.testing.assert_allclose(answers, served.model.predict_proba(rows), rtol=1e-12)
    yes = rows["churn"].to_numpy() == "Yes"
    assert np.mean(np.array(answers)[yes]) > np.mean(np.array(answers)[~yes]) + 0.3  # the probability of 'Yes'


def test_a_challenger_answers_in_its_tasks_shape(serve_task, registered):
    served = registered["multiclass"]
    http = serve_task("multiclass")
    assert http.put("/admin/traffic", json={"challenger_percent": 100}, headers=AUTH).status_code == 200
    body = http.post("/predict", json=instances(served, served.rows.head(3))).json()
    assert body["variant"] == CHALLENGER
    assert body["model_version"] == "2"
    assert [set(a["probabilities"]) for a in body["predictions"]] == [set(GRADES)] * 3
    assert http.put("/admin/traffic", json={"challenger_percent": 0, "shadow": True}, headers=AUTH).status_code == 200
    body = http.post("/predict", json=instances(served, served.rows.head(3))).json()
    assert body["variant"] == CHAMPION
    assert server_of(http).inference_log.flush()
    assert metric(http, 'tradewind_rows_total{variant="challenger"}') == 6  # 3 answered, 3 shadow-scored


def test_the_openapi_schema_says_each_tasks_answer(serve_task):
    multiclass = serve_task("multiclass").get("/openapi.json").json()
    schemas = multiclass["components"]["schemas"]
    answer = multiclass["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/PredictResponse"}
    assert schemas["PredictResponse"]["properties"]["predictions"]["items"] == {
        "$ref": "#/components/schemas/ClassPrediction"
    }
    item = schemas["ClassPrediction"]
    assert item["properties"]["class"]["enum"] == GRADES
    assert set(item["required"]) == {"class", "probabilities"}
    probabilities = schemas["ClassProbabilities"]
    assert list(probabilities["properties"]) == GRADES
    assert probabilities["properties"]["mid"] == {"type": "number", "maximum": 1.0, "minimum": 0.0, "title": "Mid"}
    assert set(probabilities["required"]) == set(GRADES)

    regression = serve_task("regression").get("/openapi.json").json()
    predictions = regression["components"]["schemas"]["PredictResponse"]["properties"]["predictions"]
    assert predictions["items"] == {"type": "number"}
    assert "The predicted 'price'" in predictions["description"]
    assert "ClassPrediction" not in regression["components"]["schemas"]


def test_binary_openapi_answer_is_the_positive_class_probability(serve, champion_only):
    schemas = serve().get("/openapi.json").json()["components"]["schemas"]
    predictions = schemas["PredictResponse"]["properties"]["predictions"]
    assert predictions["items"] == {"type": "number"}
    assert predictions["description"] == "Probability of the positive class, one per instance, in order"


def test_the_inference_log_keeps_each_tasks_answer(serve_task, registered, tmp_path):
    for task in ("multiclass", "regression"):
        served = registered[task]
        http = serve_task(task)
        rows = served.rows.head(30)
        answers = predict(http, served, rows)
        assert server_of(http).inference_log.flush()
        logged = read_log(tmp_path, served.spec.name)
        assert logged.columns.tolist() == log_schema(served.spec).names
        assert logged["row_id"].tolist() == rows["row_id"].tolist()
        if task == "multiclass":
            assert logged.columns.tolist()[-8:-6] == ["score", "predicted_class"]
            assert logged["predicted_class"].tolist() == [a["class"] for a in answers]
            assert logged["score"].tolist() == [a["probabilities"][a["class"]] for a in answers]
        else:
            assert "predicted_class" not in logged
            assert logged["score"].tolist() == answers


def test_the_score_histogram_per_task(serve_task, registered):
    served = registered["multiclass"]
    http = serve_task("multiclass")
    answers = predict(http, served, served.rows.head(40))
    # The predicted class's probability, one per record (what the canary compares between variants).
    assert metric(http, 'tradewind_score_count{variant="champion"}') == 40
    top = sum(a["probabilities"][a["class"]] for a in answers)
    assert metric(http, 'tradewind_score_sum{variant="champion"}') == pytest.approx(top)

    served = registered["regression"]
    http = serve_task("regression")
    predict(http, served, served.rows.head(40))
    # A value is no probability: the histogram stays empty, the records are counted.
    assert metric(http, 'tradewind_score_count{variant="champion"}') == 0
    assert metric(http, 'tradewind_rows_total{variant="champion"}') == 40


def _validated(served: Served, root: Path) -> tuple[Any, Any]:
    """The rows of ``DAY`` committed as a validated partition under ``root``."""
    partition = partition_path(f"file://{root}", VALIDATED, served.spec.name, pd.Timestamp(DAY).date())
    writer = PartitionWriter(partition, "parquet")
    rows = served.rows.tail(300).astype({"colour": str})
    with writer.open_part(rows=len(rows)) as fh:
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), fh)
    writer.commit(dataset=served.spec.name, partition_date=DAY, schema_version=1)
    return partition, read_manifest(partition)


@pytest.mark.parametrize(
    ("task", "columns"),
    [
        ("multiclass", ["probability_low", "probability_mid", "probability_high", "predicted_class"]),
        ("regression", ["prediction"]),
    ],
)
def test_batch_scoring_writes_each_tasks_columns_equal_to_the_servers_answers(
    serve_task, registered, tmp_path, task, columns
):
    served = registered[task]
    scoring = ScoringModel(name=served.name, version="1", run_id=None, model=served.model, alias=CHAMPION)
    score_partition(scoring, served.spec, f"file://{tmp_path}", _validated(served, tmp_path), chunk_rows=128)
    scores_at = partition_path(f"file://{tmp_path}", SCORES, served.spec.name, pd.Timestamp(DAY).date())
    scored = read_stored(scores_at, read_manifest(scores_at))

    assert scored.columns.tolist() == ["row_id", *columns, "model_name", "model_version"]
    rows = served.rows.tail(300)
    assert scored["row_id"].tolist() == rows["row_id"].tolist()
    answers = predict(serve_task(task), served, rows)
    if task == "multiclass":
        assert scored["predicted_class"].tolist() == [a["class"] for a in answers]
        for grade in GRADES:
            assert scored[f"probability_{grade}"].tolist() == [a["probabilities"][grade] for a in answers]
    else:
        assert scored["prediction"].tolist() == answers


def test_the_registered_pyfunc_answers_the_batch_scoring_columns(store, registered):
    import mlflow

    from tradewind.data.reader import normalise
    from tradewind.registry.store import using_tracking_uri

    served = registered["multiclass"]
    rows = served.rows.head(20)
    with using_tracking_uri(store):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{served.name}@{CHAMPION}")
    # As a pyfunc client sends records: plain text, no label; whole-second times (MLflow reads the format of the first).
    records = normalise(rows.drop(columns=["grade"]).assign(event_time=rows["event_time"].dt.floor("s")))
    answer = pyfunc.predict(records)
    assert answer.columns.tolist() == ["probability_low", "probability_mid", "probability_high", "predicted_class"]
    expected = served.model.predict_proba(records)
    np.testing.assert_allclose(answer.iloc[:, :3].to_numpy(), expected, rtol=1e-12)
    assert answer["predicted_class"].tolist() == [GRADES[i] for i in expected.argmax(axis=1)]
