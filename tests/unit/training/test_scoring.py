"""Scoring without pandas: the models give the same scores, bit for bit, as they did through a frame.

The reference is what ``predict_proba`` computed before the numpy feature builder: the backend's
``predict_features`` (unchanged: a pandas frame into XGBoost's ``inplace_predict`` or into the
PyTorch encoder) of the old pandas ``build_features`` (kept verbatim in
``tests/unit/data/features_reference.py``). Scores are compared as bytes: no tolerance.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from tests.unit.data.features_reference import as_frame, edge_cases, random_frame, reference_build_features
from tests.unit.helpers import spec_dict
from tradewind.data.columns import ColumnBatch
from tradewind.data.features import build_features
from tradewind.data.spec import DatasetSpec, parse_spec
from tradewind.data.split import time_split
from tradewind.data.synthetic import generate_day
from tradewind.training.model import TrainedModel
from tradewind.training.torch_tabular import fit_torch
from tradewind.training.trainer import train
from tradewind.training.xgb import XGBoostBackend, fit_xgboost

pytestmark = pytest.mark.unit

NULLABLE = ("amount", "customer_age_days", "card_present", "merchant_category", "device")


@pytest.fixture(scope="module")
def nullable_spec() -> DatasetSpec:
    data = spec_dict()
    for name in NULLABLE:
        data["columns"][name]["nullable"] = True
    return parse_spec(data)


@pytest.fixture(scope="module")
def nullable_rows(nullable_spec: DatasetSpec) -> pd.DataFrame:
    """Synthetic rows with nulls in the nullable columns (nullable integer and boolean dtypes too)."""
    days = [generate_day(pd.Timestamp(f"2026-01-0{d}").date(), rows_per_day=2000) for d in (5, 6, 7)]
    rows = pd.concat(days, ignore_index=True)
    rng = np.random.default_rng(5)
    for name in NULLABLE:
        holes = rng.random(len(rows)) < 0.15
        if name == "customer_age_days":
            rows[name] = pd.array(rows[name], dtype="Int64")
        elif name == "card_present":
            rows[name] = pd.array(rows[name], dtype="boolean")
        elif isinstance(rows[name].dtype, pd.CategoricalDtype):
            rows[name] = rows[name].astype(object)
        rows.loc[holes, name] = None
    return rows


@pytest.fixture(scope="module")
def models(xgb_result, torch_result, nullable_spec, nullable_rows) -> dict[str, TrainedModel]:
    small = {
        "xgboost": {"num_boost_round": 30, "max_depth": 4, "nthread": 1},
        "torch": {"epochs": 2},
    }
    out = {"xgboost": xgb_result.model, "torch": torch_result.model}
    for framework, params in small.items():
        out[f"{framework} with nulls"] = train(nullable_spec, nullable_rows, framework, params).model
    return out


def _reference_scores(model: TrainedModel, records: pd.DataFrame | ColumnBatch) -> Any:
    frame = as_frame(records)
    if frame.empty:
        return np.zeros(0, dtype=np.float64)
    try:
        return np.asarray(model.backend.predict_features(reference_build_features(frame, model.spec)), np.float64)
    except Exception as err:
        return err


def _assert_same_scores(model: TrainedModel, records: pd.DataFrame | ColumnBatch, what: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow of huge inputs: both paths warn
        old = _reference_scores(model, records)
        if isinstance(old, Exception):
            with pytest.raises(type(old)):
                model.predict_proba(records)
            return
        new = model.predict_proba(records)
    assert new.dtype == np.float64, what
    assert new.shape == old.shape, what
    assert new.tobytes() == old.tobytes(), f"{what}: {np.abs(new - old).max()} apart"


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("which", ["xgboost", "torch", "xgboost with nulls", "torch with nulls"])
def test_edge_cases_score_as_before(models, which):
    model = models[which]
    for name, records in edge_cases(model.spec):
        _assert_same_scores(model, records, f"{which}: {name}")


@pytest.mark.parametrize("which", ["xgboost", "torch", "xgboost with nulls", "torch with nulls"])
def test_random_frames_score_as_before(models, which):
    model = models[which]
    rng = np.random.default_rng(hash(which) % 2**32)
    for i in range(60):
        frame = random_frame(model.spec, rng, int(rng.integers(1, 200)))
        _assert_same_scores(model, frame, f"{which}: random frame {i}")


@pytest.mark.parametrize("which", ["xgboost", "torch"])
def test_records_with_nulls_score_as_before(models, nullable_rows, which):
    model = models[f"{which} with nulls"]
    for size in (1, 2, 37, 1000, len(nullable_rows)):
        _assert_same_scores(model, nullable_rows.tail(size), f"{which}: {size} rows with nulls")
    for row in range(0, 60, 7):
        _assert_same_scores(model, nullable_rows.iloc[[row]], f"{which}: row {row}")
    batch = ColumnBatch({c: nullable_rows[c].array[:25] for c in nullable_rows.columns}, 25)
    _assert_same_scores(model, batch, f"{which}: a column batch with nulls")


def test_xgboost_reads_the_codes_of_a_spec_trained_booster(models):
    for which in ("xgboost", "xgboost with nulls"):
        model = models[which]
        backend = model.backend
        assert isinstance(backend, XGBoostBackend)
        assert backend._reads_codes(model.feature_matrix(as_frame(next(iter(edge_cases(model.spec)))[1])))


def test_xgboost_goes_through_the_frame_for_a_booster_of_other_inputs(models, frame, caplog):
    """A booster whose features are not the spec's (renamed here) is never fed bare codes."""
    model = models["xgboost"]
    booster = model.native.copy()
    booster.feature_names = [f"f{i}" for i in range(booster.num_features())]
    other = TrainedModel(spec=model.spec, backend=XGBoostBackend(booster))
    with pytest.raises(ValueError, match="feature_names mismatch"):
        other.predict_proba(frame.head(3))
    assert "scores through a pandas frame" in caplog.text


def test_training_makes_the_same_model_from_either_feature_path(frame, shipped_spec):
    """The trainers see frames equal to the old ones in value and layout: the same booster, the same weights."""
    train_rows, holdout_rows = time_split(frame, shipped_spec)
    y, holdout_y = (rows["is_fraud"].to_numpy() for rows in (train_rows, holdout_rows))
    params = {"num_boost_round": 15, "max_depth": 3, "nthread": 1, "early_stopping_rounds": 0}
    fits = [
        fit_xgboost(build(train_rows, shipped_spec), y, build(holdout_rows, shipped_spec), holdout_y, params)
        for build in (build_features, reference_build_features)
    ]
    new, old = (bytes(f.backend.booster.save_raw("ubj")) for f in fits)
    assert new == old
    nets = [
        fit_torch(build(train_rows, shipped_spec), y, build(holdout_rows, shipped_spec), holdout_y, {"epochs": 1})
        for build in (build_features, reference_build_features)
    ]
    new_state, old_state = (n.backend.module.state_dict() for n in nets)
    assert list(new_state) == list(old_state)
    for name, tensor in new_state.items():
        assert tensor.numpy().tobytes() == old_state[name].numpy().tobytes(), name


def _booster_on(features: pd.DataFrame, labels: np.ndarray) -> xgb.Booster:
    """A booster straight from ``xgb.train`` (not sliced to its best round, so it keeps its categories)."""
    data = xgb.QuantileDMatrix(features, label=labels, enable_categorical=True)
    return xgb.train({"max_depth": 3, "nthread": 1, "objective": "binary:logistic"}, data, num_boost_round=12)


def test_a_booster_that_keeps_its_categories_scores_the_same(frame, shipped_spec):
    """XGBoost >= 3.1 stores the categories it was trained on and re-codes a frame's to them; with
    the spec's categories that is the identity, so the bare codes give the same scores."""
    rows = frame.head(3000)
    booster = _booster_on(build_features(rows, shipped_spec), rows["is_fraud"].to_numpy())
    stored = dict(booster.get_categories(export_to_arrow=True).to_arrow())
    assert stored["country"].to_pylist() == list(shipped_spec.columns["country"].categories or ())
    model = TrainedModel(spec=shipped_spec, backend=XGBoostBackend(booster))
    assert model.backend._reads_codes(model.feature_matrix(frame.head(1)))
    for name, records in edge_cases(shipped_spec):
        _assert_same_scores(model, records, name)


def test_a_booster_trained_on_other_category_codes_goes_through_the_frame(frame, shipped_spec, caplog):
    """Categories in another order than the spec's: XGBoost re-codes a frame, bare codes would be wrong."""
    rows = frame.head(3000)
    features = build_features(rows, shipped_spec)
    features["country"] = features["country"].cat.reorder_categories(features["country"].cat.categories[::-1])
    model = TrainedModel(spec=shipped_spec, backend=XGBoostBackend(_booster_on(features, rows["is_fraud"].to_numpy())))
    assert not model.backend._reads_codes(model.feature_matrix(frame.head(1)))
    assert "scores through a pandas frame" in caplog.text
    _assert_same_scores(model, frame.tail(500), "a booster with its own category order")
