"""A version's drift reference travels with its artifacts: fetched and loaded back from the registry,
a clear error for a version logged without one, and the version's validation metrics."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tradewind.data import synthetic
from tradewind.data.spec import DatasetSpec
from tradewind.monitoring.config import DriftConfig
from tradewind.monitoring.reference import (
    REFERENCE_FILE,
    load_version_reference,
    reference_for_model,
    sample_rows,
    save_reference,
)
from tradewind.registry.loading import (
    fetch_version_reference,
    load_registered_model,
    version_metrics,
)
from tradewind.registry.pyfunc import pyfunc_logger
from tradewind.registry.store import make_client
from tradewind.registry.tracking import log_training_run
from tradewind.registry.versions import register_version

pytestmark = pytest.mark.unit

NAME = "fraud-reference"
PARAMS = {"num_boost_round": 10, "max_depth": 3}
SAMPLE = DriftConfig(max_rows=800, seed=5)  # a reference smaller than the training rows: sampled, seeded


@dataclass(frozen=True)
class Registry:
    client: MlflowClient
    uri: str
    with_reference: str  # the version logged with reference.parquet in its model folder
    without_reference: str  # the version logged from the same model folder, without it
    reference: pd.DataFrame
    raw: pd.DataFrame
    metrics: dict[str, float]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, shipped_spec: DatasetSpec) -> Registry:
    from tradewind.training.trainer import train

    folder = tmp_path_factory.mktemp("version-reference")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = make_client(uri)
    raw = synthetic.generate_day(dt.date(2026, 1, 5), rows_per_day=2500)
    result = train(shipped_spec, raw, "xgboost", PARAMS)
    bare = folder / "bare"
    result.model.save(str(bare))
    with_ref = folder / "with-reference"
    shutil.copytree(bare, with_ref)
    reference = reference_for_model(result.model, raw, shipped_spec, SAMPLE)
    save_reference(reference, with_ref / REFERENCE_FILE)  # beside the model files, as the promote step does

    def log(model_dir: Path, data_hash: str) -> str:
        run = log_training_run(
            client,
            "reference-tests",
            framework="xgboost",
            params=PARAMS,
            metrics=result.metrics,
            data_hashes={"transactions/2026-01-05": data_hash},
            code_revision="test",
            model_logger=pyfunc_logger(model_dir, raw),
        )
        return str(register_version(client, NAME, run.run_id).version)

    return Registry(
        client=client,
        uri=uri,
        with_reference=log(with_ref, "with-reference"),
        without_reference=log(bare, "without-reference"),
        reference=reference,
        raw=raw,
        metrics=dict(result.metrics),
    )


def test_a_versions_reference_loads_back_with_its_rows_and_scores(registry: Registry, shipped_spec: DatasetSpec):
    leftovers_before = set(Path(tempfile.gettempdir()).glob("tradewind-reference-*"))
    loaded = load_version_reference(registry.client, registry.uri, NAME, registry.with_reference)
    assert len(loaded) == 800 < len(registry.raw)  # the seeded sample, not every training row
    assert list(loaded.columns) == [*shipped_spec.feature_columns, shipped_spec.label, "score"]
    pd.testing.assert_frame_equal(loaded, registry.reference, check_dtype=False, check_categorical=False)
    info = loaded.attrs["tradewind_reference"]
    assert (info["dataset"], info["rows"], info["seed"]) == ("transactions", 800, 5)
    assert info["source_rows"] == len(registry.raw)
    # The score column is the registered model's own score of the sampled training rows (the
    # prediction-drift reference); the rows are those of the seeded sample, in their order.
    rows = sample_rows(registry.raw, SAMPLE.max_rows, SAMPLE.seed).reset_index(drop=True)
    pd.testing.assert_series_equal(loaded["amount"], rows["amount"])
    model = load_registered_model(registry.client, registry.uri, NAME, registry.with_reference)
    np.testing.assert_allclose(loaded["score"].to_numpy(), model.predict_proba(rows), rtol=1e-6)
    assert loaded["score"].between(0, 1).all()
    # The download was temporary: an hourly check leaves nothing behind.
    assert set(Path(tempfile.gettempdir()).glob("tradewind-reference-*")) == leftovers_before


def test_fetching_gives_the_reference_file_in_the_download(registry: Registry, tmp_path: Path):
    path = fetch_version_reference(registry.client, registry.uri, NAME, int(registry.with_reference), tmp_path)
    assert path.name == REFERENCE_FILE
    assert path.is_file()
    assert tmp_path in path.parents


def test_a_version_logged_without_a_reference_is_a_clear_error(registry: Registry, tmp_path: Path):
    version = registry.without_reference
    with pytest.raises(FileNotFoundError, match=rf"{NAME} version {version} has no drift reference \(reference"):
        load_version_reference(registry.client, registry.uri, NAME, version)
    with pytest.raises(FileNotFoundError, match=f"version {version} "):
        fetch_version_reference(registry.client, registry.uri, NAME, version, tmp_path)


def test_an_unknown_version_is_an_mlflow_error(registry: Registry):
    with pytest.raises(MlflowException):
        load_version_reference(registry.client, registry.uri, NAME, "999")


def test_version_metrics_are_the_logged_validation_metrics(registry: Registry):
    metrics = version_metrics(registry.client, NAME, registry.with_reference)
    assert metrics["pr_auc"] == pytest.approx(registry.metrics["pr_auc"])
    assert metrics["roc_auc"] == pytest.approx(registry.metrics["roc_auc"])
    assert 0 < metrics["pr_auc"] <= 1
    assert all(isinstance(v, float) for v in metrics.values())
    assert version_metrics(registry.client, NAME, int(registry.without_reference))["pr_auc"] == pytest.approx(
        registry.metrics["pr_auc"]
    )
