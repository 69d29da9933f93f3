"""Training runs: the idempotency key, metric flattening, and a real run created once and reused."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from tests.unit.registry.conftest import FEATURES, LoggedModel, train_and_log
from tradewind.registry.tracking import (
    KEY_TAG,
    MODEL_URI_TAG,
    find_run,
    flatten_metrics,
    idempotency_key,
)

pytestmark = pytest.mark.unit

BASE = ({"d1": "h1", "d2": "h2"}, "rev1", {"lr": 0.1, "depth": 6, "extra": {"a": 1, "b": [1, 2]}}, "xgboost")


def test_key_is_a_stable_sha256() -> None:
    key = idempotency_key(*BASE)
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert key == idempotency_key(*BASE)


def test_key_ignores_the_order_of_params_and_hashes() -> None:
    hashes, rev, params, fw = BASE
    reordered = {"extra": {"b": [1, 2], "a": 1}, "depth": 6, "lr": 0.1}
    assert idempotency_key(dict(reversed(hashes.items())), rev, reordered, fw) == idempotency_key(*BASE)
    assert idempotency_key(["h2", "h1"], rev, params, fw) == idempotency_key(["h1", "h2"], rev, params, fw)


@pytest.mark.parametrize(
    "change",
    [
        ({"d1": "h1", "d2": "CHANGED"}, "rev1", BASE[2], "xgboost"),
        (BASE[0], "rev2", BASE[2], "xgboost"),
        (BASE[0], "rev1", {**BASE[2], "lr": 0.2}, "xgboost"),
        (BASE[0], "rev1", BASE[2], "pytorch"),
    ],
    ids=["data", "code", "params", "framework"],
)
def test_key_changes_with_each_input(change: tuple) -> None:
    assert idempotency_key(*change) != idempotency_key(*BASE)


def test_flatten_metrics_names_segments() -> None:
    flat = flatten_metrics(
        {"pr_auc": 0.4, "segments": {"US": {"pr_auc": 0.3}, "New Zealand?": {"ece": 0.1}}, "n": True}
    )
    assert flat == {"pr_auc": 0.4, "segment.US.pr_auc": 0.3, "segment.New Zealand_.ece": 0.1}


def test_run_logs_params_metrics_tags_data_and_model(client: MlflowClient, logged: LoggedModel) -> None:
    run = client.get_run(logged.run.run_id)
    assert run.info.status == "FINISHED"
    assert not logged.run.reused
    assert run.data.params["C"] == "1.0"
    assert run.data.metrics["pr_auc"] == 0.42
    assert run.data.metrics["segment.US.pr_auc"] == 0.4
    tags = run.data.tags
    assert tags[KEY_TAG] == logged.run.key
    assert tags["airflow.dag_id"] == "train"
    assert tags["airflow.try_number"] == "1"
    assert tags["tradewind.git_revision"] == tags["mlflow.source.git.commit"] == "abc1234"
    assert json.loads(tags["tradewind.features"]) == FEATURES
    assert tags[MODEL_URI_TAG].startswith("models:/m-")
    assert run.inputs is not None
    (data_input,) = run.inputs.dataset_inputs
    assert data_input.dataset.name == "transactions"
    assert data_input.dataset.digest == ("0" * 64)[:36]
    assert {t.key: t.value for t in data_input.tags}["tradewind.content_hash"] == "0" * 64


def test_retry_reuses_the_finished_run(client: MlflowClient, logged: LoggedModel) -> None:
    calls: list[str] = []
    again = train_and_log(client, logged.experiment, model_logger=calls.append)
    assert again.run.reused
    assert again.run.run_id == logged.run.run_id
    assert calls == []  # nothing trained or logged twice
    assert find_run(client, logged.experiment, logged.run.key) == logged.run.run_id


def test_a_failed_run_is_not_reused(client: MlflowClient) -> None:
    def broken(name: str) -> None:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        train_and_log(client, "registry-failures", seed=5, model_logger=broken, dataset=None)
    key = idempotency_key({"transactions/2026-01-05": "hash-5"}, "abc1234", {"C": 1.0, "seed": 5}, "sklearn")
    assert find_run(client, "registry-failures", key) is None
    experiment = client.get_experiment_by_name("registry-failures")
    assert experiment is not None
    (failed,) = client.search_runs([experiment.experiment_id])
    assert failed.info.status == "FAILED"


def test_find_run_in_an_unknown_experiment(client: MlflowClient) -> None:
    assert find_run(client, "no-such-experiment", "0" * 64) is None


def test_a_run_whose_logger_logs_nothing_gets_no_model_uri_even_after_another_stores_model(
    client: MlflowClient, logged: LoggedModel, tmp_path
) -> None:
    """The process logged a model to another store first: that model is not this run's, nor looked up here."""
    from tradewind.registry.store import make_client

    assert client.get_run(logged.run.run_id).data.tags[MODEL_URI_TAG].startswith("models:/m-")
    other = make_client(f"sqlite:///{tmp_path / 'other.db'}")
    empty = train_and_log(other, "no-model", seed=7, model_logger=lambda _: None)
    run = other.get_run(empty.run.run_id)
    assert run.info.status == "FINISHED"
    assert MODEL_URI_TAG not in run.data.tags
