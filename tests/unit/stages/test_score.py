"""The score stage: a validated day scored by the champion (or a named version) of a real MLflow registry.

The lake's validated partitions are copied into a folder of each test; two real XGBoost models are trained
on the lake, logged and registered as versions 1 (the champion) and 2 of ``transactions`` in a SQLite
MLflow store of this module.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from upath import UPath

from tradewind.data.ingest import VALIDATED, partition_path
from tradewind.data.reader import read_stored
from tradewind.data.validated import load_validated, mark_superseded, validated_manifests
from tradewind.serving.batch_scoring import SCORES, score_partition
from tradewind.stages.cli import app
from tradewind.stages.score import load_scoring_model
from tradewind.storage import MANIFEST, read_manifest
from tradewind.training.model import TrainedModel

pytestmark = pytest.mark.unit

runner = CliRunner()
PARAMS = {
    "1": {"num_boost_round": 20, "max_depth": 3, "nthread": 1},
    "2": {"num_boost_round": 5, "max_depth": 2, "nthread": 1},
}


@pytest.fixture(scope="module")
def registry(lake, small_spec, tmp_path_factory) -> str:
    """A SQLite MLflow store where ``transactions`` has versions 1 (champion) and 2, each a real Tradewind model."""
    from tradewind.registry.aliases import CHAMPION
    from tradewind.registry.pyfunc import pyfunc_logger
    from tradewind.registry.store import make_client
    from tradewind.registry.tracking import log_training_run
    from tradewind.registry.versions import register_version
    from tradewind.training.trainer import train

    folder = tmp_path_factory.mktemp("score-registry")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    client = make_client(store)
    rows = load_validated(small_spec, lake.root, lake.dates[:2])
    for version, params in PARAMS.items():
        result = train(small_spec, rows, "xgboost", params, data_hashes={"2026-01-05": f"score-{version}"})
        model_dir = folder / f"model-{version}"
        result.model.save(str(model_dir))
        run = log_training_run(
            client, "score-tests", framework="xgboost", params=params, metrics=result.metrics,
            data_hashes={"transactions/2026-01-05": f"score-{version}"}, code_revision="test",
            model_logger=pyfunc_logger(model_dir, rows),
        )  # fmt: skip
        assert register_version(client, "transactions", run.run_id).version == int(version)
    client.set_registered_model_alias("transactions", CHAMPION, "1")
    return store


@pytest.fixture
def root(lake, tmp_path) -> UPath:
    """A lake of this test: a copy of the session lake's validated partitions."""
    shutil.copytree(Path(lake.root.path) / VALIDATED, tmp_path / "lake" / VALIDATED)
    return UPath(f"file://{tmp_path / 'lake'}")


def run_score(root: UPath, store: str, *args: str, **env: str) -> Any:
    command = ["score", "--dataset", "transactions", "--root", str(root), "--tracking-uri", store, *args]
    return runner.invoke(app, command, env=env or None)


def scores_of(root: UPath, day: str) -> tuple[pd.DataFrame, Any]:
    partition = partition_path(root, SCORES, "transactions", pd.Timestamp(day).date())
    manifest = read_manifest(partition)
    assert manifest is not None, f"no committed scores at {partition}"
    return read_stored(partition, manifest), manifest


def served_scores(store: str, spec, rows: pd.DataFrame) -> np.ndarray:
    """What the model server answers for ``rows`` (the champion, loaded from the same registry)."""
    from fastapi.testclient import TestClient

    from tradewind.serving.app import create_app
    from tradewind.serving.config import parse_serving_config

    config = parse_serving_config({"model_name": "transactions", "inference_log": {"enabled": False}})
    application = create_app(config, tracking_uri=store, spec=spec)
    records = rows.drop(columns=[spec.label]).assign(event_time=rows["event_time"].map(lambda t: t.isoformat()))
    scores: list[float] = []
    with TestClient(application) as http:
        application.state.server.holder.refresh()
        for start in range(0, len(records), 500):
            body = {"instances": records.iloc[start : start + 500].to_dict(orient="records")}
            response = http.post("/predict", content=json.dumps(body))
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == "1"
            scores += response.json()["predictions"]
    return np.asarray(scores)


def test_scores_equal_the_model_servers_for_the_same_rows_with_the_version_in_each_row(
    registry, root, lake, small_spec, caplog
):
    caplog.set_level("INFO", logger="tradewind.serving.batch_scoring")
    day = lake.dates[2].isoformat()
    result = run_score(root, registry, "--date", day, "--chunk-rows", "1000")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    scored, manifest = scores_of(root, day)

    validated = load_validated(small_spec, root, [day])
    assert list(scored.columns) == ["transaction_id", "customer_id", "score", "model_name", "model_version"]
    assert scored["transaction_id"].tolist() == validated["transaction_id"].tolist()
    assert scored["customer_id"].tolist() == validated["customer_id"].tolist()
    assert set(scored["model_name"]) == {"transactions"}
    assert set(scored["model_version"]) == {"1"}
    np.testing.assert_array_equal(scored["score"].to_numpy(), served_scores(registry, small_spec, validated))

    # The lineage: the validated content it read, the model version and its run, in the manifest and the outcome.
    (_, source) = validated_manifests(small_spec, root, [day])[pd.Timestamp(day).date()]
    assert manifest.extra["validated_content_hash"] == source.content_hash
    assert manifest.extra["raw_content_hash"] == source.extra["raw_content_hash"]
    assert manifest.extra["model_version"] == "1"
    assert manifest.extra["model_alias"] == "champion"
    assert manifest.extra["model_run_id"]
    assert manifest.row_count == len(validated)
    assert outcome["content_hash"] == manifest.content_hash
    assert outcome["partition_uri"].endswith(f"/scores/transactions/date={day}")
    assert outcome["model_run_id"] == manifest.extra["model_run_id"]
    # Progress, chunk by chunk.
    progress = [r.getMessage().strip() for r in caplog.records if "rows scored" in r.getMessage()]
    total = len(validated)
    assert progress == [f"... {n} of {total} rows scored" for n in (1000, 2000, total)]


def test_a_named_version_scores_and_replaces_the_days_scores(registry, root, lake):
    day = lake.dates[0].isoformat()
    assert run_score(root, registry, "--date", day).exit_code == 0
    first, _ = scores_of(root, day)
    result = run_score(root, registry, "--date", day, "--version", "2")
    assert result.exit_code == 0, result.output
    second, manifest = scores_of(root, day)
    assert set(second["model_version"]) == {"2"}
    assert manifest.extra["model_alias"] is None
    assert second["transaction_id"].tolist() == first["transaction_id"].tolist()
    assert not np.allclose(second["score"], first["score"])  # another model's scores
    folder = partition_path(root, SCORES, "transactions", lake.dates[0])
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, *(f.name for f in manifest.files)])


def test_chunks_are_bounded(registry, root, lake, small_spec, monkeypatch):
    sizes: list[int] = []
    real = TrainedModel.predict_matrix

    def recording(self, features):
        sizes.append(len(features))
        return real(self, features)

    monkeypatch.setattr(TrainedModel, "predict_matrix", recording)
    assert run_score(root, registry, "--date", lake.dates[1].isoformat(), "--chunk-rows", "700").exit_code == 0
    assert max(sizes) <= 700
    assert sum(sizes) == len(load_validated(small_spec, root, [lake.dates[1]])) > 2 * 700


def test_a_failure_midway_leaves_the_days_scores_as_they_were(registry, root, lake, small_spec, monkeypatch):
    from tradewind.registry.store import make_client

    day = lake.dates[1]
    validated = validated_manifests(small_spec, root, [day])[day]
    scoring = load_scoring_model(make_client(registry), registry, "transactions")
    folder = partition_path(root, SCORES, "transactions", day)
    calls = {"n": 0}
    real = TrainedModel.predict_matrix

    def failing_second_chunk(self, features):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("the machine ran out of memory")
        return real(self, features)

    monkeypatch.setattr(TrainedModel, "predict_matrix", failing_second_chunk)
    with pytest.raises(MemoryError):
        score_partition(scoring, small_spec, root, validated, chunk_rows=1000)
    assert not folder.exists()  # never committed: nothing at all

    monkeypatch.setattr(TrainedModel, "predict_matrix", real)
    committed = score_partition(scoring, small_spec, root, validated, chunk_rows=1000)
    monkeypatch.setattr(TrainedModel, "predict_matrix", failing_second_chunk)
    calls["n"] = 0
    with pytest.raises(MemoryError):
        score_partition(scoring, small_spec, root, validated, chunk_rows=1000)
    manifest = read_manifest(folder)
    assert manifest is not None
    assert manifest.content_hash == committed["content_hash"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, *(f.name for f in manifest.files)])


def test_a_day_without_a_validated_partition_is_refused(registry, root):
    result = run_score(root, registry, "--date", "2025-12-01")
    assert result.exit_code == 2
    assert "no committed validated partition for 1 date(s): 2025-12-01" in result.output
    assert not (Path(root.path) / SCORES).exists()


def test_a_superseded_day_is_refused(registry, root, lake):
    mark_superseded(partition_path(root, VALIDATED, "transactions", lake.dates[0]), result_id="r-1")
    result = run_score(root, registry, "--date", lake.dates[0].isoformat())
    assert result.exit_code == 2
    assert "superseded" in result.output
    assert not (Path(root.path) / SCORES).exists()


def test_no_champion_is_refused(root, lake, tmp_path):
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run_score(root, store, "--date", lake.dates[0].isoformat())
    assert result.exit_code == 2
    assert "registered model 'transactions' does not exist" in result.output

    from tradewind.registry.store import make_client

    make_client(store).create_registered_model("transactions")
    result = run_score(root, store, "--date", lake.dates[0].isoformat())
    assert result.exit_code == 2
    assert "has no 'champion' alias" in result.output
    assert not (Path(root.path) / SCORES).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "9"], "version 9 of registered model 'transactions' does not exist"),
        (["--version", "latest"], "'latest' is not a version number"),
        (["--version", "1", "--alias", "champion"], "not both"),
        (["--alias", "challenger"], "has no 'challenger' alias"),
    ],
)
def test_a_version_that_does_not_exist_is_refused(registry, root, lake, args, message):
    result = run_score(root, registry, "--date", lake.dates[0].isoformat(), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_registry_outage_is_worth_a_retry(root, lake):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_score(
        root, f"http://127.0.0.1:{port}", "--date", lake.dates[0].isoformat(),
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="5",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert not (Path(root.path) / SCORES).exists()


def test_a_storage_failure_is_worth_a_retry(registry, root, lake):
    (Path(root.path) / SCORES).write_text("not a folder")  # the scores zone cannot be written
    result = run_score(root, registry, "--date", lake.dates[0].isoformat())
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, OSError)
