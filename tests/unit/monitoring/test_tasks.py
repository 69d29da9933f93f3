"""Drift and performance drift of a multiclass and a regression model, on small synthetic data.

The "model" of each task is the data's own relation (no training): a multiclass model's class
probabilities are a softmax of the features' signal, a regression model's value is the signal itself.
The reference is built as registration builds it (:func:`build_reference`), the window holds what the
inference log keeps of each task (``score``, and a multiclass model's ``predicted_class``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.training.task_data import GRADES, task_frame, task_spec
from tradewind.data.target import predicted_classes
from tradewind.evaluation import metrics_for
from tradewind.monitoring.drift import check_drift
from tradewind.monitoring.performance import check_performance
from tradewind.monitoring.reference import build_reference

pytestmark = pytest.mark.unit

ROWS = 2000


def signal(frame: pd.DataFrame) -> np.ndarray:
    colour = frame["colour"].cat.codes.to_numpy()
    return 1.5 * frame["x1"].to_numpy() - frame["x2"].to_numpy() + np.array([0.0, 0.8, -0.8])[colour]


def model_scores(task: str, frame: pd.DataFrame) -> np.ndarray:
    """Class probabilities (multiclass, rows x 3) or the value (regression) of the data's own relation."""
    s = signal(frame)
    if task == "regression":
        return 2.0 * s
    logits = np.stack([-2.0 * (s + 0.8), np.zeros_like(s), 2.0 * (s - 0.8)], axis=1)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def logged(task: str, frame: pd.DataFrame) -> pd.DataFrame:
    """What the inference log keeps of scored rows: the spec's columns but the label, and the output."""
    spec, scores = task_spec(task), model_scores(task, frame)
    out = frame.drop(columns=[spec.label])
    if task == "multiclass":
        out["score"] = scores.max(axis=1)
        out["predicted_class"] = predicted_classes(spec, scores)
    else:
        out["score"] = scores
    return out


def reference(task: str) -> pd.DataFrame:
    frame = task_frame(task, rows=ROWS, seed=100)
    return build_reference(frame, task_spec(task), scores=model_scores(task, frame))


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(x1=frame["x1"] + 1.0)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_unchanged_traffic_raises_no_drift_in_any_of_ten_seeds(task):
    spec, ref = task_spec(task), reference(task)
    results = [check_drift(ref, logged(task, task_frame(task, rows=ROWS, seed=seed)), spec) for seed in range(10)]
    assert [r.status for r in results] == ["no_drift"] * 10
    column = "predicted_class" if task == "multiclass" else "prediction"
    assert {r.prediction.column for r in results} == {column}
    assert not any(r.prediction.drifted for r in results)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_shifted_traffic_drifts_the_feature_and_the_prediction(task):
    spec, ref = task_spec(task), reference(task)
    result = check_drift(ref, logged(task, shifted(task_frame(task, rows=ROWS, seed=1))), spec)
    assert result.status == "drift"
    assert "x1" in result.drifted_features
    assert result.prediction is not None
    assert result.prediction.drifted
    kind = "categorical" if task == "multiclass" else "numerical"
    assert (result.prediction.kind, result.prediction.method) == (
        kind,
        "jensenshannon" if kind == "categorical" else "wasserstein",
    )
    assert f"{result.prediction.column} (prediction)" in result.table()


def test_a_multiclass_prediction_shift_alone_is_found_on_the_predicted_class():
    # The features are unchanged; the model now predicts 'high' for two thirds of the rows it called 'low'.
    spec, ref = task_spec("multiclass"), reference("multiclass")
    window = logged("multiclass", task_frame("multiclass", rows=ROWS, seed=2))
    low = np.flatnonzero(window["predicted_class"].to_numpy() == "low")
    window.loc[window.index[low[np.arange(len(low)) % 3 > 0]], "predicted_class"] = "high"
    result = check_drift(ref, window, spec)
    assert result.drifted_features == []
    assert result.prediction.drifted
    assert result.status == "drift"


def _champion(task: str) -> dict[str, float]:
    """The champion's validation figures on rows like its training data (what the registry holds)."""
    frame = task_frame(task, rows=ROWS, seed=200)
    if task == "multiclass":
        y = pd.Index(GRADES).get_indexer(frame["grade"])
        return metrics_for("multiclass", y, model_scores(task, frame), classes=GRADES)
    y = frame["price"].to_numpy()
    return metrics_for("regression", y, model_scores(task, frame), baseline=float(y.mean())) | {
        "baseline_mean": float(y.mean())
    }


def _concept_change(task: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Labels that no longer follow the model's relation."""
    rng = np.random.default_rng(5)
    label = task_spec(task).label
    return frame.assign(**{label: rng.permutation(frame[label].to_numpy())})


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_performance_drift_with_labels_per_task(task):
    spec, champion = task_spec(task), _champion(task)
    metric = "macro_f1" if task == "multiclass" else "rmse"
    served = task_frame(task, rows=ROWS, seed=3)
    same = check_performance(logged(task, served), served[[spec.id, spec.label]], spec, champion)
    assert same.status == "no_drift", same.table()
    assert [c.metric for c in same.comparisons] == [metric]
    assert same.positives is None
    assert same.rows == ROWS

    changed = _concept_change(task, served)
    worse = check_performance(logged(task, served), changed[[spec.id, spec.label]], spec, champion)
    assert worse.status == "drift", worse.table()
    assert worse.drifted_metrics == [metric]
    comparison = worse.comparisons[0]
    if task == "regression":  # rmse: lower is better, the bound is a relative rise
        assert comparison.current > champion["rmse"] * 1.1
    else:
        assert comparison.current < champion["macro_f1"] - 0.1


def test_labels_the_spec_does_not_declare_are_counted_not_joined():
    spec = task_spec("multiclass")
    served = task_frame("multiclass", rows=ROWS, seed=4)
    labels = served[[spec.id, spec.label]].astype({spec.label: object})
    labels.loc[labels.index[:7], spec.label] = "top"
    result = check_performance(logged("multiclass", served), labels, spec, _champion("multiclass"))
    assert result.join["invalid_labels"] == 7
    assert result.rows == ROWS - 7


def test_a_binary_text_label_is_read_through_its_positive_class():
    spec = task_spec("binary")  # churn 'Yes' / 'No', positive_class 'Yes'
    served = task_frame("binary", rows=ROWS, seed=6)
    window = served.drop(columns=["churn"]).assign(score=1.0 / (1.0 + np.exp(-3.0 * (signal(served) - 1.0))))
    y = (served["churn"] == "Yes").to_numpy(dtype=int)
    champion = metrics_for("binary", y, window["score"].to_numpy())
    result = check_performance(window, served[[spec.id, spec.label]], spec, champion)
    assert result.status == "no_drift"
    assert result.positives == int(y.sum())
    assert result.join["invalid_labels"] == 0
    flipped = served.assign(churn=np.where(served["churn"] == "Yes", "No", "Yes"))
    assert check_performance(window, flipped[[spec.id, spec.label]], spec, champion).drifted_metrics == [
        "pr_auc",
        "roc_auc",
    ]
