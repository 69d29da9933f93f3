"""Loading a registered version: the Tradewind model inside it and its signature, nothing left on disk."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tradewind.data import synthetic
from tradewind.data.spec import DatasetSpec
from tradewind.registry.loading import load_registered_model, load_registered_version
from tradewind.registry.pyfunc import pyfunc_logger
from tradewind.registry.tracking import log_training_run
from tradewind.registry.versions import register_version
from tradewind.training.model import load_model
from tradewind.training.trainer import train

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def registered(client: MlflowClient, shipped_spec: DatasetSpec, tmp_path_factory: pytest.TempPathFactory):
    raw = synthetic.generate_day(dt.date(2026, 1, 5), rows_per_day=2500)
    result = train(shipped_spec, raw, "xgboost", {"num_boost_round": 10, "max_depth": 3})
    model_dir = tmp_path_factory.mktemp("loading-model")
    result.model.save(str(model_dir))
    run = log_training_run(
        client,
        "loading-tests",
        framework="xgboost",
        params={"num_boost_round": 10},
        metrics=result.metrics,
        data_hashes={"transactions/2026-01-05": "loading"},
        code_revision="test",
        model_logger=pyfunc_logger(model_dir, raw),
    )
    version = register_version(client, "fraud-loading", run.run_id)
    return str(version.version), model_dir, raw


def test_a_registered_version_loads_with_its_signature(client, store, registered, shipped_spec: DatasetSpec):
    version, model_dir, raw = registered
    leftovers_before = set(Path(tempfile.gettempdir()).glob("tradewind-model-*"))
    found = load_registered_version(client, store, "fraud-loading", version)
    assert (found.name, found.version) == ("fraud-loading", version)
    rows = raw.drop(columns=[shipped_spec.label]).head(30)
    expected = load_model(str(model_dir)).predict_proba(rows)
    pd.testing.assert_series_equal(pd.Series(found.model.predict_proba(rows)), pd.Series(expected))
    assert set(shipped_spec.feature_columns) <= set(found.input_names)
    assert shipped_spec.label not in found.input_names
    types = {s.name: s.type for s in found.signature}
    assert types["amount"] == "double"
    assert types["merchant_category"] == "string"
    # The download was temporary: nothing is left behind by a server that reloads all day.
    assert set(Path(tempfile.gettempdir()).glob("tradewind-model-*")) == leftovers_before
    assert load_registered_model(client, store, "fraud-loading", int(version)).framework == "xgboost"


def test_an_unknown_version_is_an_mlflow_error(client, store, registered):
    with pytest.raises(MlflowException):
        load_registered_version(client, store, "fraud-loading", "999")
