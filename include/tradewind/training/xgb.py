"""XGBoost trainer: hist trees on the shared features, native categoricals, resumable checkpoints.

* ``tree_method="hist"``; ``device="cuda"`` when a GPU is visible or asked for (CPU fallback with
  one log line, see :func:`tradewind.training.runtime.resolve_device`).
* Categoricals stay pandas categoricals (``enable_categorical=True``): no one-hot, and the
  category codes come from the spec, so training and serving agree. Scoring takes the same codes
  as numbers in one float32 matrix (:meth:`XGBoostBackend.predict_matrix`), which skips pandas:
  XGBoost reads a categorical column of a frame as its codes too, so the scores are the same bits.
* One objective per task (``task``, the spec's): ``binary:logistic`` (the positive class's probability),
  ``multi:softprob`` with ``num_class`` (one probability per class, in the spec's class order) and
  ``reg:squarederror`` (the value).
* Class weighting: for binary, ``scale_pos_weight`` defaults to negatives/positives of the training
  rows (fraud is rare); for multiclass, ``class_weight: balanced`` (the default; ``none`` turns it off)
  gives each row the weight ``rows / (classes x rows of its class)`` (scikit-learn's "balanced").
  Regression rows are not weighted.
* Early stopping on the holdout's ``aucpr`` (binary), ``mlogloss`` (multiclass) or ``rmse``
  (regression), judged on the whole history, across resumes.
* Distributed (``workers``, a :class:`~tradewind.training.distributed.WorkerGroup` inside an
  XGBoost collective): each worker builds its DMatrix from its shard of the training rows and the
  full holdout; class weight and checkpoint fingerprint come from all rows, so every worker (and
  a single-worker resume) agrees; worker 0 alone writes checkpoints.
* Every ``checkpoint_every`` rounds the booster (with its eval history and a fingerprint of the
  params and data as booster attributes, so one atomic file is the whole state) is written to the
  checkpoint folder. A run that finds a checkpoint with the same fingerprint continues from it
  (``xgb_model=``) instead of starting over.

Trainer-level keys of ``params`` (the rest go to XGBoost): ``num_boost_round``,
``early_stopping_rounds`` (None or 0: off), ``device``, ``log_every``, ``checkpoint_every``, and for
multiclass ``class_weight``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from tradewind.data.features import FeatureMatrix
from tradewind.storage import LakePath
from tradewind.training.runtime import CheckpointStore, Progress, fingerprint, resolve_device

if TYPE_CHECKING:
    from tradewind.training.distributed import WorkerGroup

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "xgboost-checkpoint.ubj"
MODEL_FILE = "model.ubj"
BOOSTER_DEFAULTS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "aucpr",
    "tree_method": "hist",
    "max_depth": 6,
    "learning_rate": 0.1,
}
# What differs per task: the objective and the metric early stopping watches (the rest is BOOSTER_DEFAULTS).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "binary": {"objective": "binary:logistic", "eval_metric": "aucpr"},
    "multiclass": {"objective": "multi:softprob", "eval_metric": "mlogloss"},
    "regression": {"objective": "reg:squarederror", "eval_metric": "rmse"},
}
TASKS = tuple(TASK_DEFAULTS)
CLASS_WEIGHTS = ("balanced", "none")
LOOP_DEFAULTS: dict[str, Any] = {
    "num_boost_round": 300,
    "early_stopping_rounds": 30,
    "device": "auto",
    "log_every": 10,
    "checkpoint_every": 25,
}
# Metrics where larger is better (XGBoost's own rule for early stopping).
_MAXIMIZE_PREFIXES = ("auc", "aucpr", "map", "ndcg", "pre")
_HISTORY_ATTR, _FINGERPRINT_ATTR = "tradewind_history", "tradewind_fingerprint"


class XGBoostBackend:
    """A trained booster as a :class:`~tradewind.training.model.ModelBackend`."""

    framework: ClassVar[str] = "xgboost"

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster
        self._takes_codes: dict[tuple[object, ...], bool] = {}

    @property
    def native(self) -> xgb.Booster:
        return self.booster

    def predict_features(self, features: pd.DataFrame) -> np.ndarray:
        # inplace_predict skips building a DMatrix: cheaper for the server's small batches.
        return np.asarray(self.booster.inplace_predict(features), dtype=np.float64)

    def predict_matrix(self, features: FeatureMatrix) -> np.ndarray:
        """:meth:`predict_features` of ``features.to_frame()``, without the frame (same scores, bit for bit)."""
        if not self._reads_codes(features):
            return self.predict_features(features.to_frame())
        # Names, types and width were checked once above: no need to ask the booster again per call.
        return np.asarray(self.booster.inplace_predict(features.dense(), validate_features=False), dtype=np.float64)

    def _reads_codes(self, features: FeatureMatrix) -> bool:
        """Whether the booster reads a matrix of ``features``' layout as it reads their frame: the same
        feature names and categorical columns, and no category list of its own that would re-code a
        frame's categories differently (checked once per layout)."""
        key = (features.features, features.categories)
        known = self._takes_codes.get(key)
        if known is None:
            known = self._takes_codes[key] = self._check_layout(features)
            if not known:
                log.warning("xgboost: this booster scores through a pandas frame (its inputs differ from the spec's)")
        return known

    def _check_layout(self, features: FeatureMatrix) -> bool:
        names, types = self.booster.feature_names, self.booster.feature_types
        fs = features.features
        if names != fs.columns or types is None or len(types) != len(names):
            return False
        if any(t == "c" for t in types[: len(fs.numeric)]) or any(t != "c" for t in types[len(fs.numeric) :]):
            return False
        try:
            stored = dict(self.booster.get_categories(export_to_arrow=True).to_arrow())
        except Exception:  # no way to tell: the frame path is always right
            return False
        for name, cats in zip(fs.categorical, features.categories, strict=True):
            own = stored.get(name)
            if own is not None and own.to_pylist() != list(cats):
                return False
        return True

    def to_files(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        config = {
            "file": MODEL_FILE,
            "rounds": self.booster.num_boosted_rounds(),
            "xgboost_version": xgb.__version__,
            "feature_names": list(self.booster.feature_names or []),
        }
        return {MODEL_FILE: bytes(self.booster.save_raw("ubj"))}, config

    @classmethod
    def from_files(cls, read: Callable[[str], bytes], config: dict[str, Any]) -> XGBoostBackend:
        booster = xgb.Booster()
        booster.load_model(bytearray(read(config.get("file", MODEL_FILE))))
        # Score on CPU unless the server asks otherwise: a GPU-trained model must load anywhere.
        booster.set_param({"device": "cpu"})
        return cls(booster)


@dataclass
class XGBoostFit:
    """A trained backend and how the training went."""

    backend: XGBoostBackend
    params: dict[str, Any]
    device: str
    rounds_total: int
    rounds_trained: int
    resumed_from: int | None
    best_iteration: int
    best_score: float
    history: list[float] = field(default_factory=list)
    workers: int = 1


def split_params(params: dict[str, Any] | None, task: str = "binary") -> tuple[dict[str, Any], dict[str, Any]]:
    """(booster params, loop params) of ``task`` with defaults filled in; an ``eta`` given replaces
    ``learning_rate``. ``ValueError`` for an unknown task or a ``class_weight`` it does not know."""
    if task not in TASK_DEFAULTS:
        raise ValueError(f"xgboost trains tasks {', '.join(TASKS)}, not '{task}'")
    given = dict(params or {})
    loop_defaults = {**LOOP_DEFAULTS, "class_weight": "balanced"} if task == "multiclass" else LOOP_DEFAULTS
    loop = {k: given.pop(k, v) for k, v in loop_defaults.items()}
    if loop.get("class_weight", "none") not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight: '{loop['class_weight']}' is not one of {', '.join(CLASS_WEIGHTS)}")
    defaults = {**BOOSTER_DEFAULTS, **TASK_DEFAULTS[task]}
    booster = {k: v for k, v in defaults.items() if not (k == "learning_rate" and "eta" in given)}
    booster.update(given)
    return booster, loop


def fit_xgboost(
    train_x: pd.DataFrame,
    train_y: np.ndarray,
    holdout_x: pd.DataFrame,
    holdout_y: np.ndarray,
    params: dict[str, Any] | None = None,
    *,
    seed: int = 7,
    checkpoint_dir: str | LakePath | None = None,
    workers: WorkerGroup | None = None,
    task: str = "binary",
    num_class: int | None = None,
) -> XGBoostFit:
    """Train (or resume) a booster on built features; early-stop on the holdout; return the best model.

    ``train_y`` and ``holdout_y`` are the targets of ``task`` (:func:`tradewind.data.target.label_targets`):
    0/1, class indexes below ``num_class`` (multiclass), or values (regression).
    With ``workers`` this process is one worker of a running XGBoost collective and trains on its
    shard of ``train_x``; the collective all-reduces the histograms, so all workers end with the
    same booster.
    """
    booster_params, loop = split_params(params, task)
    device = resolve_device(loop["device"], "xgboost")
    weights = _task_weights(task, booster_params, loop, train_y, num_class)
    booster_params.update(seed=seed, device=device)
    total = int(loop["num_boost_round"])
    metric = _last_metric(booster_params.get("eval_metric"), TASK_DEFAULTS[task]["eval_metric"])
    maximize = metric.startswith(_MAXIMIZE_PREFIXES)
    weighting = {"class_weight": loop["class_weight"]} if "class_weight" in loop else {}
    key = _fingerprint({**booster_params, **weighting}, train_x, holdout_x, seed)

    store = CheckpointStore(checkpoint_dir, CHECKPOINT_FILE) if checkpoint_dir is not None else None
    start_model, history = _resume(store, key)
    start = start_model.num_boosted_rounds() if start_model is not None else 0
    patience = int(loop["early_stopping_rounds"] or 0)
    monitor = _RoundMonitor(total, start, metric, maximize, patience, int(loop["log_every"]), history)
    callbacks: list[xgb.callback.TrainingCallback] = [monitor]
    if store is not None and (workers is None or workers.is_writer):
        callbacks.append(_Checkpointer(store, int(loop["checkpoint_every"]), monitor, key))

    booster = start_model
    if _should_train(start, total, history, maximize, patience):
        rows = _shard(len(train_x), workers)
        if rows is not None:
            train_x, train_y = train_x.iloc[rows], train_y[rows]
            weights = weights[rows] if weights is not None else None
        bins = {"max_bin": int(booster_params["max_bin"])} if "max_bin" in booster_params else {}  # must match
        dtrain = xgb.QuantileDMatrix(train_x, label=train_y, weight=weights, enable_categorical=True, **bins)
        dholdout = xgb.QuantileDMatrix(holdout_x, label=holdout_y, enable_categorical=True, ref=dtrain, **bins)
        booster = xgb.train(
            booster_params,
            dtrain,
            num_boost_round=total - start,
            evals=[(dholdout, "holdout")],
            xgb_model=start_model,
            callbacks=callbacks,
            verbose_eval=False,
        )
    assert booster is not None  # trained, or resumed from a finished checkpoint
    history = monitor.history
    best = _best_index(history, maximize)
    rounds = booster.num_boosted_rounds()
    log.info(
        "xgboost: %d rounds (%d trained in this run), best holdout %s %.5f at round %d",
        rounds,
        rounds - start,
        metric,
        history[best],
        best + 1,
    )
    final = booster[: best + 1] if best + 1 < rounds else booster
    return XGBoostFit(
        backend=XGBoostBackend(final),
        params={**booster_params, **loop, "device": device},
        device=device,
        rounds_total=rounds,
        rounds_trained=rounds - start,
        resumed_from=start if start_model is not None else None,
        best_iteration=best,
        best_score=float(history[best]),
        history=list(history),
        workers=workers.world_size if workers is not None else 1,
    )


def _shard(total: int, workers: WorkerGroup | None) -> slice | None:
    """This worker's rows of the ``total`` training rows (None: all of them, without a collective)."""
    if workers is None or workers.world_size == 1:
        return None
    rows = workers.shard(total)  # checks the worker count against the rows first
    world = xgb.collective.get_world_size()
    if world != workers.world_size:
        raise RuntimeError(f"xgboost collective has {world} worker(s), the worker group says {workers.world_size}")
    log.info(
        "xgboost worker %d/%d trains on %d of %d rows",
        workers.rank,
        workers.world_size,
        len(range(total)[rows]),
        total,
    )
    return rows


def _task_weights(
    task: str, booster: dict[str, Any], loop: dict[str, Any], y: np.ndarray, num_class: int | None
) -> np.ndarray | None:
    """Set the task's class weighting in ``booster``; the per-row weights (multiclass), else None.

    Computed from all training rows, before sharding, so every worker of a collective agrees."""
    if task == "binary":
        booster.setdefault("scale_pos_weight", _class_ratio(y))
        return None
    spw = booster.pop("scale_pos_weight", 1)
    if spw != 1:
        raise ValueError(f"scale_pos_weight weighs a binary task's positives, not {task}'s: remove it")
    if task == "regression":
        return None
    if num_class is None or num_class < 2:
        raise ValueError(f"multiclass training needs num_class (the number of classes), got {num_class}")
    booster["num_class"] = num_class
    if len(np.unique(y)) < 2:
        raise ValueError("the training rows hold a single class: nothing to learn")
    if loop["class_weight"] == "none":
        return None
    from sklearn.utils.class_weight import compute_sample_weight

    return np.asarray(compute_sample_weight("balanced", y), dtype=np.float32)


def _class_ratio(y: np.ndarray) -> float:
    """Negatives per positive: the weight that balances the classes in the loss."""
    positives = int(np.sum(y))
    if positives == 0:
        raise ValueError("the training rows hold no positive label: nothing to learn")
    return float((len(y) - positives) / positives)


def _last_metric(eval_metric: Any, default: str = "aucpr") -> str:
    if isinstance(eval_metric, list | tuple):
        return str(eval_metric[-1])
    return str(eval_metric or default)


def _fingerprint(params: dict[str, Any], train_x: pd.DataFrame, holdout_x: pd.DataFrame, seed: int) -> str:
    """What a checkpoint must have been made with to be continued: params (not device), data shape, seed."""
    relevant = {k: v for k, v in params.items() if k not in ("device", "nthread", "n_jobs", "verbosity")}
    return fingerprint({"params": relevant, "columns": list(train_x.columns), "rows": [len(train_x), len(holdout_x)]})


def _resume(store: CheckpointStore | None, key: str) -> tuple[xgb.Booster | None, list[float]]:
    """The checkpointed booster and its eval history, or (None, []) to start over."""
    if store is None:
        return None, []
    raw = store.read()
    if raw is None:
        log.info("xgboost: no checkpoint at %s: starting from round 0", store.uri)
        return None, []
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    if booster.attr(_FINGERPRINT_ATTR) != key:
        log.warning(
            "xgboost: checkpoint at %s was made with other params or data (fingerprint %s, now %s): starting over",
            store.uri,
            booster.attr(_FINGERPRINT_ATTR),
            key,
        )
        return None, []
    history = [float(v) for v in json.loads(booster.attr(_HISTORY_ATTR) or "[]")]
    rounds = booster.num_boosted_rounds()
    log.info("xgboost: resumed from checkpoint %s at round %d", store.uri, rounds)
    return booster, history[:rounds]


def _best_index(history: list[float], maximize: bool) -> int:
    if not history:
        raise ValueError("no evaluation history: was any round trained?")
    values = np.asarray(history, dtype=np.float64)
    return int(np.nanargmax(values) if maximize else np.nanargmin(values))


def _stalled(history: list[float], maximize: bool, patience: int) -> bool:
    return patience > 0 and bool(history) and len(history) - 1 - _best_index(history, maximize) >= patience


def _should_train(start: int, total: int, history: list[float], maximize: bool, patience: int) -> bool:
    if start >= total:
        log.info("xgboost: checkpoint already has %d of %d rounds: nothing left to train", start, total)
        return False
    if _stalled(history, maximize, patience):
        log.info("xgboost: checkpoint had already stopped early at round %d: nothing left to train", start)
        return False
    return True


class _RoundMonitor(xgb.callback.TrainingCallback):
    """Records the holdout metric per round, logs progress every ``every`` rounds, stops early."""

    def __init__(
        self,
        total: int,
        start: int,
        metric: str,
        maximize: bool,
        patience: int,
        every: int,
        history: list[float],
    ) -> None:
        super().__init__()
        self.total, self.start, self.metric = total, start, metric
        self.maximize, self.patience, self.every = maximize, patience, max(every, 1)
        self.history = list(history)
        self.progress = Progress(total=total, start=start)

    def before_training(self, model: xgb.Booster) -> xgb.Booster:
        self.progress = Progress(total=self.total, start=self.start)
        return model

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict[str, Any]) -> bool:
        score = float(evals_log["holdout"][self.metric][-1])
        self.history.append(score)
        done = self.start + epoch + 1  # epoch counts from 0 in each call, also when resumed
        stop = _stalled(self.history, self.maximize, self.patience)
        if done % self.every == 0 or done == self.total or stop:
            elapsed, remaining = self.progress.timing(done)
            best = _best_index(self.history, self.maximize)
            log.info(
                "xgboost round %d/%d holdout %s %.5f (best %.5f at %d) elapsed %.1fs remaining ~%.1fs",
                done,
                self.total,
                self.metric,
                score,
                self.history[best],
                best + 1,
                elapsed,
                remaining,
            )
        if stop:
            log.info("xgboost: early stop at round %d: no gain in %d rounds", done, self.patience)
        return stop


class _Checkpointer(xgb.callback.TrainingCallback):
    """Writes the booster, with history and fingerprint attributes, every ``every`` rounds and at the end."""

    def __init__(self, store: CheckpointStore, every: int, monitor: _RoundMonitor, key: str) -> None:
        super().__init__()
        self.store, self.every, self.monitor, self.key = store, max(every, 1), monitor, key

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict[str, Any]) -> bool:
        if (self.monitor.start + epoch + 1) % self.every == 0:
            self._save(model)
        return False

    def after_training(self, model: xgb.Booster) -> xgb.Booster:
        self._save(model)
        return model

    def _save(self, model: xgb.Booster) -> None:
        model.set_attr(**{_HISTORY_ATTR: json.dumps(self.monitor.history), _FINGERPRINT_ATTR: self.key})
        self.store.write(bytes(model.save_raw("ubj")))
        log.info("xgboost: checkpoint at round %d -> %s", model.num_boosted_rounds(), self.store.uri)
