"""One training entry for every framework: split by time, build features, fit, evaluate.

``train`` is what the CLI (and so every backend: local subprocess, Kubernetes pod) calls. The
framework-specific part is a *fitter*: a function from built features and labels to a fit
result with a ``backend``. Distributed training uses the same fitters: ``workers`` (a
:class:`~tradewind.training.distributed.WorkerGroup` of a running torch process group or XGBoost
collective, see :mod:`tradewind.training.distributed`) is passed through, and each fitter shards
its rows; the split, the features, the metrics and the model contract do not change.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradewind.data.features import build_features, labels
from tradewind.data.pii import segment_values
from tradewind.data.spec import DatasetSpec
from tradewind.data.split import split_by_time
from tradewind.data.target import target_names
from tradewind.data.validated import combined_hash
from tradewind.evaluation import metrics_for, primary_metric
from tradewind.storage import LakePath
from tradewind.training.model import TrainedModel

if TYPE_CHECKING:
    from tradewind.training.distributed import WorkerGroup

log = logging.getLogger(__name__)

# framework -> (module, fit function); imported on demand so an XGBoost run never imports torch.
FITTERS: dict[str, tuple[str, str]] = {
    "xgboost": ("tradewind.training.xgb", "fit_xgboost"),
    "torch": ("tradewind.training.torch_tabular", "fit_torch"),
}
FRAMEWORKS = tuple(FITTERS)
# The tasks each framework trains (a framework added here may train fewer: check_framework says so).
FRAMEWORK_TASKS: dict[str, tuple[str, ...]] = {
    "xgboost": ("binary", "multiclass", "regression"),
    "torch": ("binary", "multiclass", "regression"),
}


@dataclass
class TrainResult:
    """What a training run produced and everything the registry logs about it."""

    model: TrainedModel
    framework: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    rows_train: int
    rows_holdout: int
    elapsed_s: float
    data_hashes: dict[str, str] = field(default_factory=dict)
    data_hash: str | None = None
    training: dict[str, Any] = field(default_factory=dict)  # rounds/epochs, resume point, best iteration
    # How the rows were split (tradewind.data.split.SplitRecord as a dict): every later step reuses it.
    split: dict[str, Any] = field(default_factory=dict)
    task: str = "binary"

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of the run (no model object)."""
        return {
            "framework": self.framework,
            "dataset": self.model.spec_name,
            "spec_fingerprint": self.model.spec_fingerprint,
            "metrics": self.metrics,
            "params": self.params,
            "rows_train": self.rows_train,
            "rows_holdout": self.rows_holdout,
            "elapsed_s": round(self.elapsed_s, 3),
            "data_hashes": self.data_hashes,
            "data_hash": self.data_hash,
            "training": self.training,
            "split": self.split,
            "task": self.task,
        }


def check_framework(framework: str, spec: DatasetSpec | None = None) -> str:
    """``framework`` if known (and, given ``spec``, able to train its task); ``ValueError`` saying
    which frameworks there are, or which ones train the spec's task, otherwise."""
    if framework not in FITTERS:
        raise ValueError(f"unknown framework '{framework}' (known: {', '.join(FRAMEWORKS)})")
    if spec is not None and spec.task not in FRAMEWORK_TASKS[framework]:
        able = [f for f in FRAMEWORKS if spec.task in FRAMEWORK_TASKS[f]]
        raise ValueError(
            f"data set '{spec.name}': framework {framework} trains task {', '.join(FRAMEWORK_TASKS[framework])} "
            f"only, not {spec.task}: use framework {' or '.join(able)}"
        )
    return framework


def train(
    spec: DatasetSpec,
    frame: pd.DataFrame,
    framework: str,
    params: dict[str, Any] | None = None,
    *,
    checkpoint_dir: str | LakePath | None = None,
    holdout_fraction: float = 0.2,
    seed: int = 7,
    data_hashes: dict[str, str] | None = None,
    workers: WorkerGroup | None = None,
) -> TrainResult:
    """Train ``framework`` on raw rows of ``spec``: the latest ``holdout_fraction`` is the holdout.

    ``data_hashes`` (partition date -> content hash, from the manifests) is recorded as the data
    identity of the run. Metrics are on the holdout, overall and per ``spec.segment``. With
    ``workers`` this is one rank of a distributed run (every rank gets the same ``frame``).
    """
    module, name = FITTERS[check_framework(framework, spec)]
    fit = getattr(importlib.import_module(module), name)
    started = time.monotonic()
    split = split_by_time(frame, spec, holdout_fraction)
    train_rows, holdout_rows = split.train, split.holdout
    train_y, holdout_y = _labels(train_rows, holdout_rows, spec)
    log.info(
        "Training %s on %s: %d rows (%s) up to %s; holdout %d rows (%s)",
        framework,
        spec.name,
        len(train_rows),
        _describe_targets(train_y, spec),
        train_rows[spec.timestamp].max(),
        len(holdout_rows),
        _describe_targets(holdout_y, spec),
    )
    distributed: dict[str, Any] = {"workers": workers} if workers is not None else {}
    distributed.update(task_arguments(spec))
    holdout_x = build_features(holdout_rows, spec)
    result = fit(
        build_features(train_rows, spec),
        train_y,
        holdout_x,
        holdout_y,
        params,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        **distributed,
    )
    model = TrainedModel(spec=spec, backend=result.backend)
    # The serving path is build_features + the backend; the holdout's features are already built.
    scores = result.backend.predict_features(holdout_x)
    segments = segment_values(holdout_rows, spec)  # metric names: a pii segment's values hashed
    metrics = holdout_metrics(spec, holdout_y, scores, segments, train_y)
    training = {k: v for k, v in vars(result).items() if k not in ("backend", "params", "history")}
    hashes = dict(data_hashes or {})
    out = TrainResult(
        model=model,
        framework=framework,
        metrics=metrics,
        params={**result.params, "seed": seed, "holdout_fraction": holdout_fraction},
        rows_train=len(train_rows),
        rows_holdout=len(holdout_rows),
        elapsed_s=time.monotonic() - started,
        data_hashes=hashes,
        data_hash=combined_hash(hashes) if hashes else None,
        training=training,
        split=split.record.to_dict(),
        task=spec.task,
    )
    model.metadata = {**out.summary(), "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if spec.task == "binary":
        log.info(
            "Trained %s in %.1fs: holdout pr_auc %.4f roc_auc %s",
            framework,
            out.elapsed_s,
            metrics["pr_auc"] or 0.0,
            metrics["roc_auc"],
        )
    else:
        primary = primary_metric(spec.task).name
        log.info("Trained %s in %.1fs: holdout %s %s", framework, out.elapsed_s, primary, metrics[primary])
    return out


def task_arguments(spec: DatasetSpec) -> dict[str, Any]:
    """What a fitter is told of the spec's task: nothing for binary (every framework trains it), else
    ``task`` and, for multiclass, ``num_class``."""
    if spec.task == "binary":
        return {}
    return {"task": spec.task, "num_class": len(spec.label_values) if spec.label_values else None}


def holdout_metrics(
    spec: DatasetSpec,
    y: np.ndarray,
    scores: np.ndarray,
    segments: Any = None,
    train_y: np.ndarray | None = None,
    *,
    baseline: float | None = None,
) -> dict[str, Any]:
    """The metrics of ``spec.task`` (:func:`tradewind.evaluation.metrics_for`) of targets ``y`` and
    a model's ``scores``: binary's as they always were; multiclass per class by the spec's class
    names; regression beside the mean of ``train_y`` (or ``baseline``)."""
    if spec.task == "multiclass":
        return metrics_for("multiclass", y, scores, classes=target_names(spec), segments=segments)
    if spec.task == "regression":
        mean = float(np.mean(train_y)) if train_y is not None else baseline
        return metrics_for("regression", y, scores, baseline=mean, segments=segments)
    return metrics_for("binary", y, scores, segments=segments)


def _describe_targets(y: np.ndarray, spec: DatasetSpec) -> str:
    """``12 positives``, ``classes a 40, b 35, c 25`` or ``mean 3.2``: what a log line says of the targets."""
    if spec.task == "binary":
        return f"{int(y.sum())} positives"
    if spec.task == "multiclass":
        counts = np.bincount(y, minlength=len(spec.label_values or ()))
        return "classes " + ", ".join(f"{n} {c}" for n, c in zip(target_names(spec) or [], counts, strict=False))
    return f"mean {float(np.mean(y)):.4g}" if len(y) else "no rows"


def _labels(train_rows: pd.DataFrame, holdout_rows: pd.DataFrame, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """The targets of both parts (``labels``); for binary each part needs positives (the holdout to
    early-stop on PR-AUC)."""
    train_y, holdout_y = labels(train_rows, spec), labels(holdout_rows, spec)
    if spec.task != "binary":
        return train_y, holdout_y
    for part, y in (("training", train_y), ("holdout", holdout_y)):
        if y.sum() == 0:
            raise ValueError(
                f"the {part} rows ({len(y)}) hold no positive '{spec.label}': "
                "use more dates or another holdout_fraction"
            )
    return train_y, holdout_y
