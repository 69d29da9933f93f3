"""Regression metrics: a hand-checked case, agreement with scikit-learn, the mean baseline, segments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from tradewind.evaluation import metrics_for

pytestmark = pytest.mark.unit


def test_hand_checked_figures_beside_the_mean_baseline():
    # Errors -0.5, 0, 1; the baseline 2.5 errs by 1.5, 0.5, -0.5; the target's sum of squares is 2.
    result = metrics_for("regression", [1, 2, 3], [1.5, 2, 2], baseline=2.5)
    assert result["rows"] == 3
    assert result["mae"] == pytest.approx(0.5)
    assert result["rmse"] == pytest.approx(math.sqrt(1.25 / 3))
    assert result["r2"] == pytest.approx(1 - 1.25 / 2)
    assert result["baseline_mean"] == 2.5
    assert result["baseline_mae"] == pytest.approx(2.5 / 3)
    assert result["baseline_rmse"] == pytest.approx(math.sqrt(2.75 / 3))
    assert result["baseline_r2"] == pytest.approx(1 - 2.75 / 2)
    assert "undefined" not in result


def test_figures_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.normal(50, 10, 2000)
    pred = y + rng.normal(0, 4, 2000)
    result = metrics_for("regression", y, pred, baseline=48.0)
    assert result["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert result["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert result["baseline_rmse"] == pytest.approx(skm.root_mean_squared_error(y, np.full(2000, 48.0)))
    assert result["rmse"] < result["baseline_rmse"]  # a useful model beats the mean


def test_segments_too_small_for_r2_say_why():
    y = [1.0, 2.0, 3.0, 5.0, 5.0]
    pred = [1.0, 2.5, 3.0, 4.0, 6.0]
    seg = metrics_for("regression", y, pred, baseline=3.0, segments=["a", "a", "one", "flat", "flat"])["segments"]
    assert sorted(seg) == ["a", "flat", "one"]
    assert seg["a"]["r2"] == pytest.approx(skm.r2_score([1, 2], [1, 2.5]))
    assert seg["one"]["r2"] is None
    too_few = "needs 2 rows or more, got 1"
    assert seg["one"]["undefined"] == {"r2": too_few, "baseline_r2": too_few}
    assert seg["flat"]["r2"] is None
    assert seg["flat"]["undefined"]["r2"] == "the target is constant (5) in 2 row(s)"
    assert seg["flat"]["mae"] == 1.0
    assert seg["flat"]["baseline_mae"] == 2.0
