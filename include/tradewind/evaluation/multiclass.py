"""Multiclass metrics: labels are class indexes 0..k-1, scores an n x k probability matrix.

``log_loss`` judges every probability (calibration included), ``macro_f1`` the predicted class
(the column of the largest probability, the first on a tie) with every class weighing the same
however rare, ``accuracy`` the share of rows predicted right. ``per_class`` gives precision, recall,
F1 and support keyed by class name; ``top_label_ece`` is the calibration error of the largest
probability against whether that prediction was right.

A segment may lack some classes: a class with no rows has no recall, one never predicted has no
precision, and one with neither has no F1 and is left out of ``macro_f1`` (scikit-learn's
``zero_division=nan``). Those figures are ``None`` with the reason under ``undefined``, keyed
``per_class.<name>.<metric>``, as the binary metrics do for a one-class segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support

from tradewind.evaluation.common import (
    ArrayLike,
    Metrics,
    check_rows,
    expected_calibration_error,
    finite_scores,
    none_if_nan,
    overall_and_per_segment,
)

# Probabilities in float32 (XGBoost, PyTorch) sum to 1 within about 1e-6; a row further off is not
# a probability vector (e.g. one-vs-rest scores) and is refused rather than silently rescaled.
ROW_SUM_TOLERANCE = 1e-3


def class_names(classes: Sequence[Any] | None) -> list[str]:
    """The class names as text, checked: at least two, none repeated."""
    if classes is None:
        raise ValueError("multiclass metrics need classes=[name of class 0, name of class 1, ...]")
    names = [str(c) for c in classes]
    if len(names) < 2:
        raise ValueError(f"multiclass metrics need at least 2 classes, got {names}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"classes must be unique, repeated: {repeated}")
    return names


def _class_indexes(y_true: ArrayLike, k: int) -> np.ndarray:
    raw = np.asarray(y_true)
    if raw.ndim != 1:
        raise ValueError(f"y_true must be 1-d class indexes, got shape {raw.shape}")
    if raw.dtype.kind not in "iub" and not (raw.dtype.kind == "f" and np.all(raw == np.round(raw))):
        what = "NaN or fractional values" if raw.dtype.kind == "f" else f"dtype {raw.dtype}"
        raise ValueError(f"y_true must hold class indexes 0..{k - 1} (integers), got {what}")
    y = raw.astype(np.int64)
    outside = (y < 0) | (y >= k)
    if outside.any():
        row = int(np.argwhere(outside)[0][0])
        raise ValueError(f"y_true has class index {y[row]} at row {row}, outside 0..{k - 1} for {k} classes")
    return y


def _probabilities(scores: ArrayLike, k: int) -> np.ndarray:
    p = finite_scores(scores, "scores")
    if p.ndim != 2 or p.shape[1] != k:
        raise ValueError(f"scores must be an n x {k} matrix (one column per class), got shape {p.shape}")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("scores must be probabilities in [0, 1]")
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.argwhere(off)[0][0])
        raise ValueError(f"scores rows must sum to 1; row {row} sums to {sums[row]:.6g}")
    return p / sums[:, None]  # exactly 1 in float64, as scikit-learn's log loss expects


def _per_class(y: np.ndarray, predicted: np.ndarray, names: list[str], undefined: dict[str, str]) -> Metrics:
    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=np.nan)
    out: Metrics = {}
    for i, name in enumerate(names):
        figures = {"precision": precision[i], "recall": recall[i], "f1": f1[i]}
        reasons = {
            "precision": f"class {name!r} never predicted in {len(y)} row(s)",
            "recall": f"no rows of class {name!r} in {len(y)} row(s)",
            "f1": f"class {name!r} neither present nor predicted in {len(y)} row(s)",
        }
        out[name] = {metric: none_if_nan(value) for metric, value in figures.items()} | {"support": int(support[i])}
        for metric, value in figures.items():
            if np.isnan(value):
                undefined[f"per_class.{name}.{metric}"] = reasons[metric]
    return out


def _metrics(y: np.ndarray, p: np.ndarray, names: list[str]) -> Metrics:
    labels = list(range(len(names)))
    predicted = p.argmax(axis=1)
    correct = predicted == y
    undefined: dict[str, str] = {}
    out: Metrics = {
        "rows": len(y),
        "class_counts": dict(zip(names, np.bincount(y, minlength=len(names)).tolist(), strict=True)),
        "log_loss": float(log_loss(y, p, labels=labels)),
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=np.nan)),
        "top_label_ece": expected_calibration_error(correct, p.max(axis=1)),
        "per_class": _per_class(y, predicted, names, undefined),
    }
    if undefined:
        out["undefined"] = undefined
    return out


def evaluate_multiclass(
    y_true: ArrayLike,
    scores: ArrayLike,
    classes: Sequence[Any] | None,
    *,
    segments: ArrayLike | None = None,
) -> Metrics:
    """Metrics of an n x k probability matrix against class indexes, plus the same per segment value.

    Returns a JSON-ready dict: ``rows``, ``class_counts``, ``log_loss``, ``accuracy``, ``macro_f1``,
    ``top_label_ece``, ``per_class`` ({name: precision, recall, f1, support}), ``undefined`` when
    some figure cannot be computed, and with ``segments`` a ``segments`` mapping of value -> the same.
    """
    names = class_names(classes)
    p = _probabilities(scores, len(names))
    y = _class_indexes(y_true, len(names))
    check_rows(len(y), len(p), "scores")
    return overall_and_per_segment(len(y), segments, lambda i: _metrics(y[i], p[i], names))
