"""The promote stage judges a model on the holdout its trainer held out, recorded with the model."""

from __future__ import annotations

import pytest

from tradewind.stages.outcome import StageInputError
from tradewind.stages.promote import promote
from tradewind.stages.train import TrainRequest, train

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained(lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("promote") / "model"
    request = TrainRequest(
        dataset="transactions", framework="xgboost", dates=lake.date_arg, out=str(out), root=str(lake.root),
        params={"max_depth": 3, "num_boost_round": 30, "nthread": 2},
    )  # fmt: skip
    summary = train(request)
    assert isinstance(summary, dict)
    return out, summary


def test_the_gate_scores_the_trainers_own_holdout(trained, lake, tmp_path):
    from tradewind.registry.store import make_client

    out, summary = trained
    assert summary["split"]["rows"] == {"train": summary["rows_train"], "holdout": summary["rows_holdout"]}
    assert summary["task"] == "binary"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = promote(
        "transactions", model_uri=str(out), dates=[d.isoformat() for d in lake.dates], client=make_client(uri),
        tracking_uri=uri, root=str(lake.root),
    )  # fmt: skip
    # The same rows as the trainer's holdout, scored through the serving path: the same figures.
    for metric in ("pr_auc", "roc_auc", "log_loss"):
        assert outcome["candidate_metrics"][metric] == pytest.approx(summary["metrics"][metric], abs=1e-9), metric
    assert outcome["version"] == "1"
    assert (out / "reference.parquet").is_file()


def test_other_rows_than_the_models_are_refused(trained, lake, client):
    out, _ = trained
    with pytest.raises(StageInputError, match="the data changed since the model was trained"):
        promote(
            "transactions", model_uri=str(out), dates=[d.isoformat() for d in lake.dates[:2]], client=client,
            tracking_uri="unused", root=str(lake.root),
        )  # fmt: skip
