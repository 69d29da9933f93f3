"""The one entry over every task: binary unchanged, primary metrics and their direction, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from tradewind.evaluation import PRIMARY_METRICS, TASKS, evaluate, metrics_for, primary_metric

pytestmark = pytest.mark.unit

CLASSES = ["a", "b", "c"]
P3 = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]]


def test_binary_is_what_evaluate_returns():
    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.2).astype(int)
    p = np.clip(0.3 * y + 0.7 * rng.random(500), 0, 1)
    segments = np.array(["x", "y"])[np.arange(500) % 2]
    assert metrics_for("binary", y, p, segments=segments) == evaluate(y, p, segments=segments)
    result = metrics_for("binary", y, p, precision_target=0.5)
    assert result == evaluate(y, p, precision_target=0.5)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-9)


def _perfect_and_noisy(task: str) -> tuple[dict, dict]:
    rng = np.random.default_rng(7)
    n = 400
    if task == "binary":
        y = np.arange(n) % 2
        perfect, noisy = np.where(y == 1, 0.9, 0.1), rng.random(n)
        kwargs: dict = {}
    elif task == "multiclass":
        y = np.arange(n) % 3
        perfect = np.full((n, 3), 0.05)
        perfect[np.arange(n), y] = 0.9
        noisy = rng.dirichlet([1, 1, 1], n)
        kwargs = {"classes": CLASSES}
    else:
        y = rng.normal(size=n)
        perfect, noisy = y + 0.01, y + rng.normal(size=n)
        kwargs = {"baseline": 0.0}
    return metrics_for(task, y, perfect, **kwargs), metrics_for(task, y, noisy, **kwargs)


@pytest.mark.parametrize("task", TASKS)
def test_primary_metric_ranks_the_better_model_first(task):
    primary = primary_metric(task)
    good, bad = _perfect_and_noisy(task)
    assert primary.better(good[primary.name], bad[primary.name])
    assert not primary.better(bad[primary.name], good[primary.name])
    if primary.calibration is not None:
        assert primary.calibration in good
    json.dumps(good)  # JSON-able as returned


def test_primary_metrics_table():
    assert {t: (m.name, m.direction) for t, m in PRIMARY_METRICS.items()} == {
        "binary": ("pr_auc", "higher"),
        "multiclass": ("macro_f1", "higher"),
        "regression": ("rmse", "lower"),
    }


@pytest.mark.parametrize(
    ("task", "y", "scores", "kwargs", "match"),
    [
        ("ranking", [0, 1], [0.1, 0.9], {}, "task must be one of binary, multiclass, regression, got 'ranking'"),
        ("binary", [0, 1], [0.1, 0.9], {"classes": ["no", "yes"]}, "classes= does not apply to a binary task"),
        ("binary", [0, 1], [0.1, 0.9], {"baseline": 0.5}, "baseline= does not apply to a binary task"),
        ("binary", [0, 0.7], [0.1, 0.9], {}, "0/1 labels"),
        ("multiclass", [0, 1], P3, {}, r"need classes=\["),
        ("multiclass", [0, 1], P3, {"classes": ["a"]}, "at least 2 classes"),
        ("multiclass", [0, 1], P3, {"classes": ["a", "b", "a"]}, r"repeated: \['a'\]"),
        ("multiclass", [0, 1], P3, {"classes": ["a", "b"]}, r"n x 2 matrix .*got shape \(2, 3\)"),
        ("multiclass", [0, 3], P3, {"classes": CLASSES}, "class index 3 at row 1, outside 0..2 for 3 classes"),
        ("multiclass", [-1, 0], P3, {"classes": CLASSES}, "class index -1 at row 0"),
        ("multiclass", ["a", "b"], P3, {"classes": CLASSES}, r"class indexes 0..2 \(integers\), got dtype"),
        ("multiclass", [0.5, 1], P3, {"classes": CLASSES}, "NaN or fractional"),
        ("multiclass", [0, 1], [[0.8, 0.1, np.nan], P3[1]], {"classes": CLASSES}, "scores holds 1 NaN .* row 0"),
        ("multiclass", [0, 1], [[0.8, 0.1, 0.3], P3[1]], {"classes": CLASSES}, "row 0 sums to 1.2"),
        ("multiclass", [0, 1, 2], P3, {"classes": CLASSES}, "y_true has 3 rows but scores has 2"),
        ("multiclass", [], np.empty((0, 3)), {"classes": CLASSES}, "zero rows"),
        ("multiclass", [0, 1], P3, {"classes": CLASSES, "baseline": 1.0}, "baseline= does not apply"),
        ("multiclass", [0, 1], P3, {"classes": CLASSES, "precision_target": 0.9}, "precision_target= does not"),
        ("multiclass", [0, 1], P3, {"classes": CLASSES, "segments": ["x"]}, "segments has 1 values for 2 rows"),
        ("regression", [1.0, 2.0], [1.0, 2.0], {}, r"need baseline= \(the training target's mean\)"),
        ("regression", [1.0, 2.0], [1.0, 2.0], {"baseline": float("nan")}, "baseline must be a finite number"),
        ("regression", [1.0, 2.0], [1.0, np.nan], {"baseline": 1.5}, "y_pred holds 1 NaN or infinite value.* row 1"),
        ("regression", [1.0, np.inf], [1.0, 2.0], {"baseline": 1.5}, "y_true holds 1 NaN"),
        ("regression", ["x", "y"], [1.0, 2.0], {"baseline": 1.5}, "y_true must hold numbers"),
        ("regression", [1.0, 2.0], [[1.0], [2.0]], {"baseline": 1.5}, r"must be 1-d, got shapes \(2,\) and \(2, 1\)"),
        ("regression", [1.0, 2.0], [1.0], {"baseline": 1.5}, "y_true has 2 rows but y_pred has 1"),
        ("regression", [1.0, 2.0], [1.0, 2.0], {"baseline": 1.5, "classes": CLASSES}, "classes= does not apply"),
    ],
)
def test_bad_input_says_what_is_wrong(task, y, scores, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics_for(task, y, scores, **kwargs)
