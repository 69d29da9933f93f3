"""Metrics: hand-checkable cases, undefined metrics on one-class segments, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradewind.evaluation import MISSING_SEGMENT, evaluate, expected_calibration_error

pytestmark = pytest.mark.unit

# (name, labels, scores, expected metrics). Worked out by hand:
# - "one mistake": ranking 0.9(1) 0.6(0) 0.4(1) 0.1(0): AP = 0.5*1 + 0.5*2/3; ROC = 3 of 4 pairs;
#   precision >= 0.9 only at the top score, where recall is 1/2.
# - "inverted": AP = 0.5*1/3 + 0.5*2/4; no threshold reaches precision 0.9.
# - ECE "perfect": |0-0.1| + |0-0.2| + |1-0.8| + |1-0.9| over 4 rows = 0.15.
CASES = [
    (
        "perfect",
        [0, 0, 1, 1],
        [0.1, 0.2, 0.8, 0.9],
        {
            "pr_auc": 1.0,
            "roc_auc": 1.0,
            "recall_at_precision": 1.0,
            "ece": 0.15,
            "log_loss": -(2 * math.log(0.9) + 2 * math.log(0.8)) / 4,
        },
    ),
    (
        "inverted",
        [1, 1, 0, 0],
        [0.1, 0.2, 0.8, 0.9],
        {"pr_auc": 0.5 / 3 + 0.25, "roc_auc": 0.0, "recall_at_precision": 0.0},
    ),
    (
        "one mistake",
        [0, 1, 0, 1],
        [0.1, 0.4, 0.6, 0.9],
        {"pr_auc": 0.5 + 1 / 3, "roc_auc": 0.75, "recall_at_precision": 0.5},
    ),
    (
        "constant score",
        [0, 1, 1, 1],
        [0.5, 0.5, 0.5, 0.5],
        {"pr_auc": 0.75, "roc_auc": 0.5, "ece": 0.25, "log_loss": math.log(2)},
    ),
]


@pytest.mark.parametrize(("name", "y", "p", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hand_checked_metrics(name, y, p, expected):
    result = evaluate(y, p)
    assert result["rows"] == len(y)
    assert result["positives"] == sum(y)
    assert "undefined" not in result
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize(("target", "expected"), [(0.9, 0.5), (0.6, 1.0), (1.0, 0.5)])
def test_recall_at_precision_follows_the_target(target, expected):
    result = evaluate([0, 1, 0, 1], [0.1, 0.4, 0.6, 0.9], precision_target=target)
    assert result["recall_at_precision"] == expected
    assert result["precision_target"] == target


@pytest.mark.parametrize(
    ("y", "p", "undefined"),
    [
        ([0, 0, 0], [0.1, 0.2, 0.3], {"pr_auc", "roc_auc", "recall_at_precision"}),
        ([1, 1], [0.5, 0.9], {"roc_auc"}),
    ],
    ids=["no positives", "no negatives"],
)
def test_one_class_inputs_mark_metrics_undefined(y, p, undefined):
    result = evaluate(y, p)
    assert set(result["undefined"]) == undefined
    for key in undefined:
        assert result[key] is None
    assert math.isfinite(result["log_loss"])
    assert math.isfinite(result["ece"])
    assert "class" in result["undefined"].get("roc_auc", "") or "positives" in result["undefined"]["pr_auc"]


def test_per_segment_metrics_skip_what_is_undefined():
    y = [0, 1, 0, 1, 0, 0, 1]
    p = [0.1, 0.9, 0.2, 0.8, 0.3, 0.4, 0.7]
    segments = ["US", "US", "GB", "GB", "NG", "NG", None]
    result = evaluate(y, p, segments=segments)
    seg = result["segments"]
    assert sorted(seg) == sorted(["GB", "NG", "US", MISSING_SEGMENT])
    assert seg["US"]["pr_auc"] == 1.0
    assert seg["US"]["rows"] == 2
    assert seg["NG"]["pr_auc"] is None
    assert seg["NG"]["positives"] == 0
    assert "no positives in 2 row(s)" in seg["NG"]["undefined"]["pr_auc"]
    assert seg[MISSING_SEGMENT]["roc_auc"] is None
    assert "segments" not in seg["US"]  # one level only
    assert result["pr_auc"] == 1.0


def test_random_scores_score_near_the_base_rate():
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.02).astype(int)
    result = evaluate(y, rng.random(20000))
    assert result["pr_auc"] < 0.03
    assert result["roc_auc"] == pytest.approx(0.5, abs=0.03)


def test_calibration_error_is_zero_when_scores_match_rates():
    y = np.array([0] * 9 + [1] + [1] * 7 + [0] * 3)
    p = np.array([0.1] * 10 + [0.7] * 10)
    assert expected_calibration_error(y, p) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 1], [0.5], "equal length"),
        ([], [], "zero rows"),
        ([0, 2], [0.1, 0.2], "0/1"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [0.1, float("nan")], "NaN"),
    ],
)
def test_bad_inputs_raise(y, p, match):
    with pytest.raises(ValueError, match=match):
        evaluate(y, p)


def test_segments_must_match_rows():
    with pytest.raises(ValueError, match="segments has 1 values for 2 rows"):
        evaluate([0, 1], [0.1, 0.9], segments=["US"])


def test_evaluate_agrees_with_sklearn_on_tied_scores():
    """evaluate derives PR-AUC from the one precision-recall curve it draws; it must equal sklearn's."""
    from tradewind.evaluation import pr_auc, recall_at_precision

    rng = np.random.default_rng(11)
    y = (rng.random(5000) < 0.05).astype(int)
    p = np.round(np.clip(0.05 + 0.3 * y * rng.random(5000) + 0.2 * rng.random(5000), 0, 1), 2)  # many ties
    result = evaluate(y, p, precision_target=0.3)
    assert result["pr_auc"] == pytest.approx(pr_auc(y, p), abs=1e-12)
    assert result["recall_at_precision"] == pytest.approx(recall_at_precision(y, p, 0.3), abs=1e-12)
