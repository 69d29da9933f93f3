"""The metrics every stage judges a model by, per task (binary, multiclass, regression).

:func:`metrics_for` is the one entry: a task's metrics overall and per segment value, as a
JSON-ready dict; :data:`PRIMARY_METRICS` names each task's primary metric and its direction.
:func:`evaluate` is the binary task's metrics (what :func:`metrics_for` returns for ``binary``).
See docs/metrics.md.
"""

from __future__ import annotations

from tradewind.evaluation.binary import evaluate, log_loss, pr_auc, recall_at_precision
from tradewind.evaluation.common import CALIBRATION_BINS, MISSING_SEGMENT, expected_calibration_error
from tradewind.evaluation.multiclass import evaluate_multiclass
from tradewind.evaluation.regression import evaluate_regression
from tradewind.evaluation.tasks import PRIMARY_METRICS, TASKS, PrimaryMetric, Task, metrics_for, primary_metric

__all__ = [
    "CALIBRATION_BINS",
    "MISSING_SEGMENT",
    "PRIMARY_METRICS",
    "TASKS",
    "PrimaryMetric",
    "Task",
    "evaluate",
    "evaluate_multiclass",
    "evaluate_regression",
    "expected_calibration_error",
    "log_loss",
    "metrics_for",
    "pr_auc",
    "primary_metric",
    "recall_at_precision",
]
