"""Binary classification metrics for an imbalanced label, overall and per segment.

Fraud is rare (about 1-2% positives), so the primary metric is the area under the
precision-recall curve (average precision), not accuracy. ``recall_at_precision`` answers the
operational question "how much fraud do we catch if at most 1 in 10 alerts may be wrong";
log loss and the expected calibration error (ECE) say whether scores can be read as probabilities.

A segment (e.g. a small country) may hold one class only. Metrics that need both classes are then
``None`` and the reason is given under ``undefined`` instead of raising or returning a
meaningless number, so a promotion gate can tell "bad" from "not measurable".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from tradewind.evaluation.common import ArrayLike, expected_calibration_error, overall_and_per_segment

_EPS = 1e-15


def pr_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision (the step-wise area under the precision-recall curve)."""
    return float(average_precision_score(np.asarray(y_true), np.asarray(y_score)))


def recall_at_precision(y_true: ArrayLike, y_score: ArrayLike, precision_target: float) -> float:
    """The largest recall over thresholds whose precision is at least ``precision_target`` (0.0 if none)."""
    precision, recall, _ = precision_recall_curve(np.asarray(y_true), np.asarray(y_score))
    ok = precision >= precision_target
    return float(recall[ok].max()) if ok.any() else 0.0


def log_loss(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Mean binary cross-entropy; scores are clipped away from 0 and 1 so it stays finite."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(y_score, dtype=np.float64), _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def _check_inputs(y_true: ArrayLike, y_score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y_true)
    p = np.asarray(y_score, dtype=np.float64)
    if labels.shape != p.shape or labels.ndim != 1:
        raise ValueError(f"y_true and y_score must be 1-d and of equal length, got {labels.shape} and {p.shape}")
    if len(labels) == 0:
        raise ValueError("cannot evaluate zero rows")
    if not np.isin(labels, (0, 1)).all():  # checked before the cast, which would turn 0.7 into 0
        raise ValueError("y_true must hold 0/1 labels only")
    y = labels.astype(np.int64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("y_score must be probabilities in [0, 1] without NaN")
    return y, p


def _metrics(y: np.ndarray, p: np.ndarray, precision_target: float) -> dict[str, Any]:
    positives = int(y.sum())
    out: dict[str, Any] = {
        "rows": len(y),
        "positives": positives,
        "pr_auc": None,
        "roc_auc": None,
        "recall_at_precision": None,
        "precision_target": precision_target,
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p),
    }
    undefined: dict[str, str] = {}
    if positives == 0:
        reason = f"no positives in {len(y)} row(s)"
        undefined.update(pr_auc=reason, recall_at_precision=reason)
    else:
        # One curve for both: average precision is sklearn's step sum over the same curve.
        precision, recall, _ = precision_recall_curve(y, p)
        out["pr_auc"] = float(-np.sum(np.diff(recall) * precision[:-1]))
        ok = precision >= precision_target
        out["recall_at_precision"] = float(recall[ok].max()) if ok.any() else 0.0
    if positives in (0, len(y)):
        undefined["roc_auc"] = f"only one class ({int(y[0])}) in {len(y)} row(s)"
    else:
        out["roc_auc"] = float(roc_auc_score(y, p))
    if undefined:
        out["undefined"] = undefined
    return out


def evaluate(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    segments: ArrayLike | None = None,
    precision_target: float = 0.9,
) -> dict[str, Any]:
    """Metrics of scores ``y_score`` against 0/1 labels, plus the same per segment value.

    Returns a JSON-ready dict: ``rows``, ``positives``, ``pr_auc``, ``roc_auc``,
    ``recall_at_precision`` (at ``precision_target``), ``log_loss``, ``ece``, an ``undefined``
    mapping (metric -> reason) when some cannot be computed, and with ``segments`` a ``segments``
    mapping of segment value -> the same metrics (missing values are grouped as ``<missing>``).
    """
    if not 0.0 < precision_target <= 1.0:
        raise ValueError(f"precision_target must be in (0, 1], got {precision_target}")
    y, p = _check_inputs(y_true, y_score)
    return overall_and_per_segment(len(y), segments, lambda i: _metrics(y[i], p[i], precision_target))
