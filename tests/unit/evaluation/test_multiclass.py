"""Multiclass metrics: a hand-checked case, agreement with scikit-learn, segments lacking classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from tradewind.evaluation import MISSING_SEGMENT, metrics_for

pytestmark = pytest.mark.unit

CLASSES = ["cat", "dog", "eel"]
# Predicted (largest probability): cat, dog, eel, cat; right on rows 0-2, wrong on row 3 (a dog).
Y = [0, 1, 2, 1]
P = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]]


def test_hand_checked_figures():
    result = metrics_for("multiclass", Y, P, classes=CLASSES)
    assert result["rows"] == 4
    assert result["class_counts"] == {"cat": 1, "dog": 2, "eel": 1}
    assert result["accuracy"] == 0.75
    # cat: 1 right of 2 predicted, 1 of 1 found; dog: 1 of 1 predicted right, 1 of 2 found; eel: all right.
    assert result["per_class"] == {
        "cat": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
        "dog": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
        "eel": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }
    assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert result["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.7) + 2 * math.log(0.4)) / 4)
    # Top label: 0.8, 0.7, 0.4 right and 0.5 wrong, each alone in its bin: (.2 + .3 + .6 + .5) / 4.
    assert result["top_label_ece"] == pytest.approx(0.4)
    assert "undefined" not in result


def test_top_label_calibration_is_zero_when_confidence_matches_accuracy():
    # Every top probability is 0.75 and 3 of the 4 predictions are right.
    p = [[0.75, 0.25, 0.0], [0.75, 0.0, 0.25], [0.25, 0.75, 0.0], [0.0, 0.25, 0.75]]
    result = metrics_for("multiclass", [0, 0, 1, 1], p, classes=CLASSES)
    assert result["accuracy"] == 0.75
    assert result["top_label_ece"] == pytest.approx(0.0)


def _random_case(seed: int, n: int = 3000, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p.astype(np.float32)  # float32 rows, as XGBoost and PyTorch return them


@pytest.mark.parametrize("seed", [0, 1])
def test_figures_agree_with_sklearn(seed):
    y, p = _random_case(seed)
    names = ["a", "b", "c", "d"]
    result = metrics_for("multiclass", y, p, classes=names)
    predicted = p.argmax(axis=1)
    p64 = p.astype(np.float64)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, p64 / p64.sum(axis=1, keepdims=True)), rel=1e-12)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert result["macro_f1"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))
    precision = skm.precision_score(y, predicted, average=None)
    recall = skm.recall_score(y, predicted, average=None)
    for i, name in enumerate(names):
        assert result["per_class"][name]["precision"] == pytest.approx(precision[i])
        assert result["per_class"][name]["recall"] == pytest.approx(recall[i])
        assert result["per_class"][name]["support"] == int((y == i).sum())


def test_each_segment_is_the_metrics_of_its_rows():
    y, p = _random_case(2, n=600)
    segments = np.array(["north", "south", None], dtype=object)[np.arange(600) % 3]
    result = metrics_for("multiclass", y, p, classes=list("abcd"), segments=segments)
    assert sorted(result["segments"]) == [MISSING_SEGMENT, "north", "south"]
    alone = metrics_for("multiclass", y[1::3], p[1::3], classes=list("abcd"))
    assert result["segments"]["south"] == alone
    assert all("segments" not in seg for seg in result["segments"].values())  # one level only


def test_a_segment_lacking_a_class_marks_its_figures_undefined():
    # Segment "small": one cat predicted right, one eel predicted as cat; no dog at all.
    y = [0, 2, 1, 1]
    p = [[0.9, 0.05, 0.05], [0.6, 0.1, 0.3], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]]
    seg = metrics_for("multiclass", y, p, classes=CLASSES, segments=["small", "small", "big", "big"])["segments"]
    small = seg["small"]
    assert small["per_class"]["dog"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert small["per_class"]["eel"]["recall"] == 0.0
    assert small["per_class"]["eel"]["precision"] is None
    assert small["undefined"]["per_class.dog.recall"] == "no rows of class 'dog' in 2 row(s)"
    assert small["undefined"]["per_class.eel.precision"] == "class 'eel' never predicted in 2 row(s)"
    # macro-F1 averages the classes present or predicted: cat 2/3, eel 0; dog is left out.
    assert small["macro_f1"] == pytest.approx(1 / 3)
    assert math.isfinite(small["log_loss"])
    assert seg["big"]["accuracy"] == 1.0


def test_class_names_are_keys_as_text():
    result = metrics_for("multiclass", [0, 1], [[0.9, 0.1], [0.2, 0.8]], classes=[10, 20])
    assert set(result["per_class"]) == {"10", "20"}
