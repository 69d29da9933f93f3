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
from tradewind.data.validated import combined_hash
from tradewind.evaluation import evaluate
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


def check_framework(framework: str) -> str:
    """``framework`` if known; ``ValueError`` listing the known ones otherwise."""
    if framework not in FITTERS:
        raise ValueError(f"unknown framework '{framework}' (known: {', '.join(FRAMEWORKS)})")
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
    module, name = FITTERS[check_framework(framework)]
    fit = getattr(importlib.import_module(module), name)
    started = time.monotonic()
    split = split_by_time(frame, spec, holdout_fraction)
    train_rows, holdout_rows = split.train, split.holdout
    train_y, holdout_y = _labels(train_rows, holdout_rows, spec)
    log.info(
        "Training %s on %s: %d rows (%d positives) up to %s; holdout %d rows (%d positives)",
        framework,
        spec.name,
        len(train_rows),
        int(train_y.sum()),
        train_rows[spec.timestamp].max(),
        len(holdout_rows),
        int(holdout_y.sum()),
    )
    distributed = {"workers": workers} if workers is not None else {}
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
    metrics = evaluate(holdout_y, scores, segments=segments)
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
    log.info(
        "Trained %s in %.1fs: holdout pr_auc %.4f roc_auc %s",
        framework,
        out.elapsed_s,
        metrics["pr_auc"] or 0.0,
        metrics["roc_auc"],
    )
    return out


def _labels(train_rows: pd.DataFrame, holdout_rows: pd.DataFrame, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels of both parts; each needs positives (the holdout to early-stop on PR-AUC)."""
    train_y, holdout_y = labels(train_rows, spec), labels(holdout_rows, spec)
    for part, y in (("training", train_y), ("holdout", holdout_y)):
        if y.sum() == 0:
            raise ValueError(
                f"the {part} rows ({len(y)}) hold no positive '{spec.label}': "
                "use more dates or another holdout_fraction"
            )
    return train_y, holdout_y
