"""What every task's metrics share: the calibration error, the per-segment split, input checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sklearn import config_context

ArrayLike: TypeAlias = np.ndarray | pd.Series | Sequence[float]
Metrics: TypeAlias = dict[str, Any]

CALIBRATION_BINS = 10
MISSING_SEGMENT = "<missing>"


def expected_calibration_error(y_true: ArrayLike, y_score: ArrayLike, bins: int = CALIBRATION_BINS) -> float:
    """ECE over equal-width score bins: sum of |observed rate - mean score| weighted by bin size.

    scikit-learn has no ECE (``calibration_curve`` drops the bin weights), hence this one."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    filled = counts > 0
    gaps = np.abs(observed[filled] - predicted[filled])  # |sum(y) - sum(p)| = n * |rate - mean score|
    return float(gaps.sum() / len(y))


def finite_scores(scores: ArrayLike, name: str = "y_score") -> np.ndarray:
    """``scores`` as float64, refusing NaN and infinities with the count and the first row."""
    try:
        p = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must hold numbers: {error}") from None
    bad = ~np.isfinite(p)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite value(s), the first at row {first}")
    return p


def check_rows(n_labels: int, n_scores: int, what: str = "y_score") -> None:
    if n_labels != n_scores:
        raise ValueError(f"y_true has {n_labels} rows but {what} has {n_scores}")
    if n_labels == 0:
        raise ValueError("cannot evaluate zero rows")


def per_segment(n_rows: int, segments: ArrayLike, metrics_of: Callable[[np.ndarray], Metrics]) -> dict[str, Metrics]:
    """``metrics_of(row_index)`` for each segment value, keyed by the value as text (sorted).

    Missing values are grouped as ``<missing>``; a segment too small for a metric gets that metric as
    ``None`` with its reason under ``undefined``, which ``metrics_of`` decides, as overall."""
    keys = pd.Series(np.asarray(segments, dtype=object)).astype(object)
    if len(keys) != n_rows:
        raise ValueError(f"segments has {len(keys)} values for {n_rows} rows")
    keys = keys.where(keys.notna(), MISSING_SEGMENT).astype(str)
    return {str(key): metrics_of(index) for key, index in sorted(keys.groupby(keys, sort=True).indices.items())}


def overall_and_per_segment(n_rows: int, segments: ArrayLike | None, metrics_of: Callable[[Any], Metrics]) -> Metrics:
    """``metrics_of`` over all rows (given ``slice(None)``), plus ``segments`` per value when given.

    The inputs are checked before; scikit-learn's own checks would repeat that for every segment."""
    with config_context(skip_parameter_validation=True, assume_finite=True):
        result = metrics_of(slice(None))
        if segments is not None:
            result["segments"] = per_segment(n_rows, segments, metrics_of)
    return result


def none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
