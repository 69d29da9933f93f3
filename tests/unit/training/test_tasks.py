"""XGBoost and the PyTorch network train every task through the real trainer: binary with text labels,
multiclass, regression.

The data sets are small synthetic ones with a learnable relation (tests/unit/training/task_data.py):
chance accuracy for the three grades is about 0.36 (the largest class), and a model that learnt
nothing has R² 0.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.unit.training.task_data import GRADES, task_frame, task_spec
from tradewind.data.features import build_features, labels
from tradewind.data.split import time_split
from tradewind.training.model import load_model
from tradewind.training.trainer import holdout_metrics, task_arguments, train
from tradewind.training.xgb import fit_xgboost

pytestmark = pytest.mark.unit

PARAMS = {"max_depth": 3, "num_boost_round": 60, "nthread": 2}
TORCH_PARAMS = {"epochs": 8, "hidden": [32, 16]}


@pytest.fixture(scope="module")
def multiclass():
    spec = task_spec("multiclass")
    return spec, task_frame("multiclass"), train(spec, task_frame("multiclass"), "xgboost", PARAMS)


@pytest.fixture(scope="module")
def regression():
    spec = task_spec("regression")
    return spec, task_frame("regression"), train(spec, task_frame("regression"), "xgboost", PARAMS)


def _xy(task: str):
    spec = task_spec(task)
    train_rows, holdout = time_split(task_frame(task), spec)
    return (
        spec,
        build_features(train_rows, spec),
        labels(train_rows, spec),
        build_features(holdout, spec),
        labels(holdout, spec),
    )


def test_multiclass_learns_the_grades(multiclass):
    spec, frame, result = multiclass
    metrics = result.metrics
    assert result.task == "multiclass"
    assert metrics["accuracy"] > 0.8  # chance: ~0.36
    assert metrics["macro_f1"] > 0.75
    assert set(metrics["per_class"]) == set(GRADES)
    assert metrics["rows"] == result.rows_holdout
    assert result.params["objective"] == "multi:softprob"
    assert result.params["num_class"] == 3
    assert result.params["class_weight"] == "balanced"
    assert "scale_pos_weight" not in result.params
    assert result.params["eval_metric"] == "mlogloss"
    # The model scores raw rows with one probability per class, in the spec's class order.
    proba = result.model.predict_proba(frame.head(50))
    assert proba.shape == (50, 3)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)
    truth = labels(frame.head(50), spec)
    assert (proba.argmax(axis=1) == truth).mean() > 0.7


def test_regression_learns_the_target(regression):
    spec, frame, result = regression
    metrics = result.metrics
    assert result.task == "regression"
    assert metrics["r2"] > 0.5
    assert metrics["rmse"] < 0.5 * metrics["baseline_rmse"]
    assert metrics["baseline_r2"] <= 0.01
    train_rows, _ = time_split(frame, spec)
    assert metrics["baseline_mean"] == pytest.approx(train_rows["price"].mean())
    assert result.params["objective"] == "reg:squarederror"
    assert result.params["eval_metric"] == "rmse"
    predicted = result.model.predict_proba(frame.head(20))
    assert predicted.shape == (20,)
    assert np.corrcoef(predicted, frame["price"].head(20))[0, 1] > 0.8


def test_a_text_binary_label_trains_with_the_positive_class_as_1():
    spec = task_spec("binary")
    result = train(spec, task_frame("binary"), "xgboost", PARAMS)
    assert set(result.metrics) >= {"pr_auc", "roc_auc", "log_loss", "ece", "recall_at_precision", "positives"}
    _, holdout = time_split(task_frame("binary"), spec)
    assert result.metrics["positives"] == int((holdout["churn"] == "Yes").sum())
    assert result.metrics["roc_auc"] > 0.9
    assert result.params["objective"] == "binary:logistic"


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_torch_trains_every_task_and_its_saved_model_answers_in_the_tasks_shape(task, tmp_path):
    """The PyTorch network through the real trainer: its task's head, loss, metrics and early stopping;
    the saved model (target standardisation, class offsets) scores raw rows as the trained one does."""
    spec, frame = task_spec(task), task_frame(task)
    result = train(spec, frame, "torch", TORCH_PARAMS)
    metrics, history = result.metrics, result.training
    assert result.task == task
    rows = frame.head(50)
    proba = result.model.predict_proba(rows)
    loaded = load_model(str(result.model.save(str(tmp_path / "model"))))
    assert np.array_equal(loaded.predict_proba(rows), proba)
    if task == "multiclass":
        assert metrics["accuracy"] > 0.75  # chance: ~0.36
        assert metrics["macro_f1"] > 0.7
        assert metrics["top_label_ece"] < 0.1
        assert result.params["class_weight"] == "balanced"
        assert "pos_weight" not in result.params
        assert proba.shape == (50, 3)
        assert np.allclose(proba.sum(axis=1), 1.0)
        assert (proba.argmax(axis=1) == labels(rows, spec)).mean() > 0.7
        assert history["best_score"] == pytest.approx(metrics["log_loss"], rel=1e-6)  # early stopping's metric
    else:
        assert metrics["r2"] > 0.5
        assert metrics["rmse"] < 0.5 * metrics["baseline_rmse"]
        assert proba.shape == (50,)
        assert abs(proba.mean() - rows["price"].mean()) < 1.0  # in the target's unit, not standardised
        assert np.corrcoef(proba, rows["price"])[0, 1] > 0.8
        assert history["best_score"] == pytest.approx(metrics["rmse"], rel=1e-6)


def test_balanced_class_weights_raise_a_rare_class():
    spec, train_x, train_y, hold_x, hold_y = _xy("multiclass")
    keep = (train_y != 2) | (np.arange(len(train_y)) % 8 == 0)  # 'high' becomes rare in training
    args = (train_x[keep], train_y[keep], hold_x, hold_y)
    params = {"max_depth": 3, "num_boost_round": 20, "nthread": 2}
    balanced = fit_xgboost(*args, params, **task_arguments(spec))
    plain = fit_xgboost(*args, {**params, "class_weight": "none"}, **task_arguments(spec))
    rare = hold_y == 2
    recall = [(f.backend.predict_features(hold_x)[rare].argmax(axis=1) == 2).mean() for f in (balanced, plain)]
    assert recall[0] > recall[1]
    assert plain.params["class_weight"] == "none"


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_resuming_from_a_checkpoint_gives_the_same_model(task, tmp_path, caplog):
    spec, *xy = _xy(task)
    params = {"max_depth": 3, "nthread": 2, "early_stopping_rounds": None, "checkpoint_every": 5}
    first = fit_xgboost(*xy, {**params, "num_boost_round": 10}, checkpoint_dir=str(tmp_path), **task_arguments(spec))
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        resumed = fit_xgboost(
            *xy, {**params, "num_boost_round": 20}, checkpoint_dir=str(tmp_path), **task_arguments(spec)
        )
    straight = fit_xgboost(*xy, {**params, "num_boost_round": 20}, **task_arguments(spec))
    assert first.rounds_total == 10
    assert resumed.resumed_from == 10
    assert resumed.rounds_trained == 10
    assert any("resumed from checkpoint" in r.getMessage() for r in caplog.records)
    hold_x = xy[2]
    assert np.allclose(resumed.history, straight.history)
    assert straight.best_score == min(straight.history)  # mlogloss and rmse: lower is better
    assert np.array_equal(resumed.backend.predict_features(hold_x), straight.backend.predict_features(hold_x))


def test_a_checkpoint_of_another_weighting_is_not_resumed(tmp_path):
    spec, *xy = _xy("multiclass")
    params = {"max_depth": 3, "nthread": 2, "num_boost_round": 5}
    fit_xgboost(*xy, params, checkpoint_dir=str(tmp_path), **task_arguments(spec))
    other = fit_xgboost(*xy, {**params, "class_weight": "none"}, checkpoint_dir=str(tmp_path), **task_arguments(spec))
    assert other.resumed_from is None


@pytest.mark.parametrize(
    ("task", "params", "message"),
    [
        ("regression", {"scale_pos_weight": 5}, "scale_pos_weight weighs a binary task's positives"),
        ("multiclass", {"class_weight": "inverse"}, "class_weight: 'inverse' is not one of balanced, none"),
    ],
)
def test_weighting_that_does_not_apply_is_refused(task, params, message):
    spec, *xy = _xy(task)
    with pytest.raises(ValueError, match=message):
        fit_xgboost(*xy, {"num_boost_round": 2, **params}, **task_arguments(spec))


def test_the_dags_unweighted_default_is_accepted_by_every_task():
    spec, *xy = _xy("regression")
    fit = fit_xgboost(*xy, {"num_boost_round": 2, "scale_pos_weight": 1, "nthread": 2}, **task_arguments(spec))
    assert "scale_pos_weight" not in fit.params


def test_metrics_of_a_regression_holdout_use_the_given_baseline(regression):
    spec, frame, result = regression
    y = labels(frame, spec)
    metrics = holdout_metrics(spec, y, result.model.predict_proba(frame), baseline=1.0)
    assert metrics["baseline_mean"] == 1.0


@pytest.mark.parametrize("fixture", ["multiclass", "regression"])
def test_the_evaluate_stage_scores_a_saved_model_with_its_tasks_metrics(request, fixture, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tradewind.stages import train as stage

    _, frame, result = request.getfixturevalue(fixture)
    folder = str(result.model.save(str(tmp_path / "model")))
    rows = SimpleNamespace(frame=frame, content_hashes={"2026-01-05": "h"}, data_hash="h")
    monkeypatch.setattr("tradewind.data.validated.read_validated", lambda *args, **kwargs: rows)
    out = stage.evaluate(folder, "2026-01-05", root=f"file://{tmp_path}")
    assert out["rows"] == len(frame)
    if fixture == "multiclass":
        assert out["metrics"]["accuracy"] > 0.8
    else:
        assert out["metrics"]["baseline_mean"] == result.metrics["baseline_mean"]  # the training rows' mean
        assert out["metrics"]["r2"] > 0.5
