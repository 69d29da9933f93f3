"""Regression metrics against a mean baseline: RMSE, MAE and R², overall and per segment.

The baseline predicts the training target's mean for every row; its figures sit beside the model's
(``baseline_rmse``, ``baseline_mae``, ``baseline_r2``, on the same rows) so a gate can require the
model to beat it. R² needs at least two rows and a target that varies; otherwise it is ``None``
with the reason under ``undefined``, as the binary metrics do for a one-class segment.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from tradewind.evaluation.common import ArrayLike, Metrics, check_rows, finite_scores, overall_and_per_segment


def _r2_undefined(y: np.ndarray) -> str | None:
    if len(y) < 2:
        return f"needs 2 rows or more, got {len(y)}"
    if np.all(y == y[0]):
        return f"the target is constant ({y[0]:g}) in {len(y)} row(s)"
    return None


def _figures(y: np.ndarray, predicted: np.ndarray, prefix: str, undefined: dict[str, str]) -> Metrics:
    out: Metrics = {
        f"{prefix}rmse": float(root_mean_squared_error(y, predicted)),
        f"{prefix}mae": float(mean_absolute_error(y, predicted)),
        f"{prefix}r2": None,
    }
    reason = _r2_undefined(y)
    if reason is None:
        out[f"{prefix}r2"] = float(r2_score(y, predicted))
    else:
        undefined[f"{prefix}r2"] = reason
    return out


def _metrics(y: np.ndarray, predicted: np.ndarray, baseline: float) -> Metrics:
    undefined: dict[str, str] = {}
    out: Metrics = {
        "rows": len(y),
        **_figures(y, predicted, "", undefined),
        "baseline_mean": baseline,
        **_figures(y, np.full(len(y), baseline), "baseline_", undefined),
    }
    if undefined:
        out["undefined"] = undefined
    return out


def _check_baseline(baseline: Any) -> float:
    if baseline is None:
        raise ValueError("regression metrics need baseline= (the training target's mean)")
    if isinstance(baseline, bool) or not isinstance(baseline, int | float | np.number) or not math.isfinite(baseline):
        raise ValueError(f"baseline must be a finite number (the training target's mean), got {baseline!r}")
    return float(baseline)


def evaluate_regression(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    baseline: float | None,
    segments: ArrayLike | None = None,
) -> Metrics:
    """Metrics of predictions ``y_pred`` against targets ``y_true``, beside a mean baseline's.

    Returns a JSON-ready dict: ``rows``, ``rmse``, ``mae``, ``r2``, ``baseline_mean`` (the constant
    the baseline predicts), ``baseline_rmse``, ``baseline_mae``, ``baseline_r2``, ``undefined`` when
    R² cannot be computed, and with ``segments`` a ``segments`` mapping of value -> the same.
    """
    mean = _check_baseline(baseline)
    y = finite_scores(y_true, "y_true")
    predicted = finite_scores(y_pred, "y_pred")
    if y.ndim != 1 or predicted.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d, got shapes {y.shape} and {predicted.shape}")
    check_rows(len(y), len(predicted), "y_pred")
    return overall_and_per_segment(len(y), segments, lambda i: _metrics(y[i], predicted[i], mean))
