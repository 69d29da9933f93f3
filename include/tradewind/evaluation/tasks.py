"""One entry for every task's metrics, and each task's primary metric with its direction.

The primary metric is what a promotion gate ranks models by:

- binary: ``pr_auc``, higher is better (a rare positive class makes accuracy and ROC-AUC flatter);
- multiclass: ``macro_f1``, higher is better: every class weighs the same however rare, as PR-AUC
  does for the positive class, and it lies in [0, 1] like PR-AUC, so absolute floors and margins
  read the same; ``log_loss`` and ``top_label_ece`` are reported beside it for calibration;
- regression: ``rmse``, lower is better, in the target's unit, beside ``baseline_rmse``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

from tradewind.evaluation.binary import evaluate
from tradewind.evaluation.common import ArrayLike, Metrics
from tradewind.evaluation.multiclass import evaluate_multiclass
from tradewind.evaluation.regression import evaluate_regression

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = get_args(Task)
Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class PrimaryMetric:
    """The metric a gate ranks a task's models by, and which way is better."""

    name: str
    direction: Direction
    calibration: str | None  # the calibration error reported for the task, if any

    def better(self, candidate: float, reference: float) -> bool:
        """Whether ``candidate`` is strictly better than ``reference`` in this metric's direction."""
        return candidate > reference if self.direction == "higher" else candidate < reference


PRIMARY_METRICS: Mapping[Task, PrimaryMetric] = MappingProxyType(
    {
        "binary": PrimaryMetric("pr_auc", "higher", calibration="ece"),
        "multiclass": PrimaryMetric("macro_f1", "higher", calibration="top_label_ece"),
        "regression": PrimaryMetric("rmse", "lower", calibration=None),
    }
)


def _check_task(task: str) -> Task:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def primary_metric(task: str) -> PrimaryMetric:
    return PRIMARY_METRICS[_check_task(task)]


def _refuse(task: Task, **given: Any) -> None:
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"{name}= does not apply to a {task} task")


def metrics_for(
    task: str,
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    classes: Sequence[Any] | None = None,
    baseline: float | None = None,
    segments: ArrayLike | None = None,
    precision_target: float | None = None,
) -> Metrics:
    """A task's metrics, overall and (with ``segments``) per segment value, as a JSON-ready dict.

    - ``binary``: ``y_true`` 0/1, ``scores`` the positive class's probability; ``precision_target``
      (default 0.9) sets ``recall_at_precision``. The same dict as :func:`evaluate`.
    - ``multiclass``: ``y_true`` class indexes 0..k-1, ``scores`` an n x k probability matrix,
      ``classes`` the k class names (per-class figures are keyed by them).
    - ``regression``: ``y_true`` the target, ``scores`` the predictions, ``baseline`` the training
      target's mean (the mean baseline's figures are reported beside the model's).

    Bad input (unknown task, a keyword that does not apply, shapes, a class index out of range,
    NaN scores) raises ``ValueError`` naming what is wrong.
    """
    checked = _check_task(task)
    if checked == "binary":
        _refuse(checked, classes=classes, baseline=baseline)
        target = 0.9 if precision_target is None else precision_target
        return evaluate(y_true, scores, segments=segments, precision_target=target)
    _refuse(checked, precision_target=precision_target)
    if checked == "multiclass":
        _refuse(checked, baseline=baseline)
        return evaluate_multiclass(y_true, scores, classes, segments=segments)
    _refuse(checked, classes=classes)
    return evaluate_regression(y_true, scores, baseline=baseline, segments=segments)
