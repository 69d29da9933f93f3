"""A trained Tradewind model, logged and registered, loads from the registry and scores raw records."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tradewind.data import synthetic
from tradewind.data.reader import normalise
from tradewind.data.spec import DatasetSpec
from tradewind.registry.pyfunc import SCORE, pyfunc_logger
from tradewind.registry.store import using_tracking_uri
from tradewind.registry.tracking import log_training_run
from tradewind.registry.versions import register_version
from tradewind.training.model import load_model
from tradewind.training.trainer import train

pytestmark = pytest.mark.unit

PARAMS = {"xgboost": {"num_boost_round": 30, "max_depth": 3}, "torch": {"epochs": 2}}


@pytest.fixture(scope="module")
def raw(shipped_spec: DatasetSpec) -> pd.DataFrame:
    import datetime as dt

    days = [synthetic.generate_day(dt.date(2026, 1, d), rows_per_day=2500) for d in (5, 6, 7)]
    return pd.concat(days, ignore_index=True)


@pytest.mark.parametrize("framework", ["xgboost", "torch"])
def test_registered_model_scores_raw_records_like_the_trainer(
    framework: str, raw: pd.DataFrame, shipped_spec: DatasetSpec, client: MlflowClient, store: str, tmp_path: Path
) -> None:
    result = train(shipped_spec, raw, framework, PARAMS[framework])
    model_dir = tmp_path / "model"
    result.model.save(str(model_dir))
    run = log_training_run(
        client,
        "pyfunc-tests",
        framework=framework,
        params=PARAMS[framework],
        metrics=result.metrics,
        data_hashes={"transactions/2026-01-05": f"{framework}-hash"},
        code_revision="test",
        model_logger=pyfunc_logger(model_dir, raw),
    )
    name = f"fraud-pyfunc-{framework}"
    version = register_version(client, name, run.run_id)
    requests = normalise(raw.sample(50, random_state=1).drop(columns=[shipped_spec.label]))
    with using_tracking_uri(store):
        served = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
        scores = served.predict(requests)
        signature = served.metadata.get_input_schema().input_names()
    expected = load_model(str(model_dir)).predict_proba(requests)
    np.testing.assert_allclose(scores[SCORE].to_numpy(), expected, rtol=1e-6)
    assert set(shipped_spec.feature_columns) <= set(signature)
    assert shipped_spec.label not in signature
