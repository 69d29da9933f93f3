"""PyTorch tabular trainer: an embedding per categorical, standardised numerics, an MLP, a head per task.

* Each categorical feature gets an embedding of ``len(spec categories) + 1`` rows; row 0 is the
  "unknown or missing" value (``build_features`` turns an unseen category into NaN).
* Numeric features are standardised with the training rows' mean and std, kept as buffers of the
  module, so a saved ``state_dict`` carries them and serving needs no separate scaler; a missing
  numeric value becomes the mean.
* A head and a loss per task (``task``, the spec's; AdamW for all):

  - ``binary``: one logit, BCE with logits and ``pos_weight`` = negatives/positives (class
    weighting); scores are the positive class's probability;
  - ``multiclass``: ``num_class`` logits, cross-entropy; with ``class_weight: balanced`` (the
    default, as XGBoost's; ``none`` turns it off) each row weighs ``rows / (classes x rows of its
    class)`` (the loss is the mean of the weighted rows' losses); scores are the softmax, one
    column per class in the spec's class order;
  - ``regression``: one output, mean squared error on the target standardised with the training
    rows' mean and std, which the saved model keeps, so its predictions are in the target's unit.

* Calibration (``calibration: prior``, the default): class weighting by ``w`` moves a class's
  logit up by ``log(w)`` (it trains on odds ``w`` times the true ones), so the saved model subtracts
  ``log(w)`` before the sigmoid (or the softmax, per class). Scores read as probabilities again
  (the gate checks the ECE); the ranking, and so PR-AUC, is unchanged.
* Early stopping with ``patience`` on the holdout's PR-AUC (binary), log loss (multiclass, of the
  calibrated probabilities) or RMSE (regression, in the target's unit); the best epoch's weights
  are returned.
* Deterministic for a seed: weights from ``torch.manual_seed``, batch order from a generator
  seeded per epoch, dropout from the global RNG whose state is checkpointed.
* A checkpoint after every epoch (model, optimizer, epoch, best state, RNG) on any fsspec path; a
  run that finds one with the same fingerprint continues after its last epoch.

Distributed (``workers``, a :class:`~tradewind.training.distributed.DdpGroup` inside a torchrun
process group): the module is wrapped in ``DistributedDataParallel``, each rank takes its part of
the single-worker epoch order from a ``DistributedSampler`` with a per-rank batch of
``batch_size / world_size`` rows, and rank 0's holdout score decides early stopping on every
rank. The scaling, class weights, target standardisation and saved form stay those of the
single-worker model (all computed from every training row); rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import log_loss, root_mean_squared_error
from torch import nn

from tradewind.data.features import FeatureMatrix
from tradewind.evaluation import pr_auc
from tradewind.storage import LakePath
from tradewind.training.runtime import CheckpointStore, Progress, fingerprint, resolve_device

if TYPE_CHECKING:
    from tradewind.training.distributed import DdpGroup

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "torch-checkpoint.pt"
CALIBRATIONS = ("prior", "none")
CLASS_WEIGHTS = ("balanced", "none")
TASKS = ("binary", "multiclass", "regression")
MODEL_FILE = "model.pt"
DEFAULTS: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 256,
    "learning_rate": 3e-3,
    "weight_decay": 1e-4,
    "hidden": [64, 32],
    "dropout": 0.1,
    "max_embedding_dim": 8,
    "patience": 3,
    "pos_weight": None,  # binary: None is negatives/positives of the training rows
    "class_weight": None,  # multiclass: None is "balanced" (as XGBoost's), "none" leaves classes unweighted
    "calibration": "prior",  # "prior": undo the class weighting's shift of the logits; "none": keep it
    "device": "auto",
    "threads": None,  # None: torch's default
}


@dataclass(frozen=True)
class TabularConfig:
    """The architecture: enough to rebuild the module before loading its ``state_dict``."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    cardinalities: tuple[int, ...]
    embedding_dims: tuple[int, ...]
    hidden: tuple[int, ...]
    dropout: float
    outputs: int = 1  # logits of the head: 1 (binary, regression) or the number of classes

    @classmethod
    def for_features(
        cls, features: pd.DataFrame, hidden: list[int], dropout: float, max_dim: int, outputs: int = 1
    ) -> TabularConfig:
        categorical = tuple(c for c in features.columns if isinstance(features[c].dtype, pd.CategoricalDtype))
        numeric = tuple(c for c in features.columns if c not in categorical)
        cards = tuple(len(features[c].cat.categories) + 1 for c in categorical)  # +1: unknown/missing
        return cls(
            numeric=numeric,
            categorical=categorical,
            cardinalities=cards,
            embedding_dims=tuple(min(max_dim, (card + 1) // 2) for card in cards),
            hidden=tuple(int(h) for h in hidden),
            dropout=float(dropout),
            outputs=int(outputs),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularConfig:
        tuples = {k: tuple(data[k]) for k in ("numeric", "categorical", "cardinalities", "embedding_dims", "hidden")}
        return cls(**tuples, dropout=float(data["dropout"]), outputs=int(data.get("outputs", 1)))


class TabularNet(nn.Module):
    """Embeddings + standardised numerics -> MLP -> ``config.outputs`` logits (one: a vector per row)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, dim) for card, dim in zip(config.cardinalities, config.embedding_dims, strict=True)
        )
        self.register_buffer("mean", torch.zeros(len(config.numeric)))
        self.register_buffer("std", torch.ones(len(config.numeric)))
        layers: list[nn.Module] = []
        width = len(config.numeric) + sum(config.embedding_dims)
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, config.outputs))
        self.mlp = nn.Sequential(*layers)

    def set_scaling(self, numeric: torch.Tensor) -> None:
        """Store the training rows' mean and std (NaN ignored; a constant column keeps std 1)."""
        mean = torch.nanmean(numeric, dim=0)
        centred = torch.where(torch.isnan(numeric), torch.zeros_like(numeric), numeric - mean)
        count = (~torch.isnan(numeric)).sum(dim=0).clamp(min=1)
        std = torch.sqrt((centred**2).sum(dim=0) / count)
        self.mean.copy_(torch.nan_to_num(mean, nan=0.0))
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        numeric = torch.where(torch.isnan(numeric), self.mean, numeric)
        parts = [(numeric - self.mean) / self.std]
        parts += [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
        return self.mlp(torch.cat(parts, dim=1)).squeeze(1)


def encode(features: pd.DataFrame, config: TabularConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Built features as tensors: float32 numerics, int64 codes (0 = unknown or missing)."""
    numeric = torch.from_numpy(features[list(config.numeric)].to_numpy(dtype=np.float32, na_value=np.nan))
    if config.categorical:
        codes = np.stack([features[c].cat.codes.to_numpy(dtype=np.int64) + 1 for c in config.categorical], axis=1)
    else:
        codes = np.zeros((len(features), 0), dtype=np.int64)
    return numeric, torch.from_numpy(codes)


def encode_matrix(features: FeatureMatrix, config: TabularConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`encode` of ``features.to_frame()``, without the frame (the same tensor values)."""
    fs = features.features
    numeric, codes = features.numeric, features.codes
    if config.numeric != fs.numeric:
        numeric = numeric[:, [fs.numeric.index(c) for c in config.numeric]]
    if config.categorical != fs.categorical:
        codes = codes[:, [fs.categorical.index(c) for c in config.categorical]]
    return torch.from_numpy(numeric), torch.from_numpy(codes.astype(np.int64) + 1)


class TorchBackend:
    """A trained :class:`TabularNet` as a :class:`~tradewind.training.model.ModelBackend`.

    Scores per task: binary the positive class's probability (a vector), multiclass the softmax
    (rows x classes), regression the value in the target's unit (``target_mean + target_std x output``).
    ``logit_offset`` is added to the logits first: one number (binary) or one per class (multiclass).
    """

    framework: ClassVar[str] = "torch"

    def __init__(
        self,
        module: TabularNet,
        logit_offset: float | tuple[float, ...] = 0.0,
        *,
        task: str = "binary",
        target_mean: float = 0.0,
        target_std: float = 1.0,
    ) -> None:
        self.module = module.cpu().eval()
        self.logit_offset = float(logit_offset) if isinstance(logit_offset, int | float) else tuple(logit_offset)
        self.task = task
        self.target_mean, self.target_std = float(target_mean), float(target_std)

    @property
    def native(self) -> TabularNet:
        return self.module

    def predict_features(self, features: pd.DataFrame) -> np.ndarray:
        return self._predict(*encode(features, self.module.config))

    def predict_matrix(self, features: FeatureMatrix) -> np.ndarray:
        """:meth:`predict_features` of ``features.to_frame()``, without the frame (same scores, bit for bit)."""
        return self._predict(*encode_matrix(features, self.module.config))

    def _predict(self, numeric: torch.Tensor, codes: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return _scores(self.module(numeric, codes), self.task, self.logit_offset, self.target_mean, self.target_std)

    def to_files(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        buffer = io.BytesIO()
        torch.save(self.module.state_dict(), buffer)
        offset = self.logit_offset if isinstance(self.logit_offset, float) else list(self.logit_offset)
        config: dict[str, Any] = {
            "file": MODEL_FILE,
            "architecture": self.module.config.to_dict(),
            "logit_offset": offset,
            "torch_version": torch.__version__,
        }
        if self.task != "binary":
            config["task"] = self.task
        if self.task == "regression":
            config.update(target_mean=self.target_mean, target_std=self.target_std)
        return {MODEL_FILE: buffer.getvalue()}, config

    @classmethod
    def from_files(cls, read: Callable[[str], bytes], config: dict[str, Any]) -> TorchBackend:
        module = TabularNet(TabularConfig.from_dict(config["architecture"]))
        state = torch.load(io.BytesIO(read(config.get("file", MODEL_FILE))), map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        offset = config.get("logit_offset", 0.0)
        return cls(
            module,
            tuple(offset) if isinstance(offset, list) else float(offset),
            task=str(config.get("task", "binary")),
            target_mean=float(config.get("target_mean", 0.0)),
            target_std=float(config.get("target_std", 1.0)),
        )


def _scores(
    outputs: torch.Tensor, task: str, offset: float | tuple[float, ...], mean: float = 0.0, std: float = 1.0
) -> np.ndarray:
    """The network's outputs as the task's scores (float64, on the CPU)."""
    if task == "regression":
        return (outputs.double() * std + mean).cpu().numpy()
    if isinstance(offset, float):
        shifted = outputs + offset
    else:
        shifted = outputs + torch.as_tensor(offset, dtype=outputs.dtype, device=outputs.device)
    if task == "multiclass":
        return torch.softmax(shifted.double(), dim=1).cpu().numpy()  # in float64: rows sum to 1
    return torch.sigmoid(shifted).double().cpu().numpy()


@dataclass
class TorchFit:
    """A trained backend and how the training went."""

    backend: TorchBackend
    params: dict[str, Any]
    device: str
    epochs_total: int
    epochs_trained: int
    resumed_from: int | None
    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    workers: int = 1


def merge_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``params``; an unknown key is an error naming the known ones."""
    unknown = sorted(set(params or {}) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown torch param(s) {', '.join(unknown)} (known: {', '.join(sorted(DEFAULTS))})")
    return {**DEFAULTS, **(params or {})}


@dataclass
class _State:
    """Everything a checkpoint holds besides the module and optimizer."""

    epoch: int = 0  # epochs completed
    best_score: float = float("-inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Head:
    """What differs per task: the outputs, the loss, the holdout metric and how outputs become scores."""

    task: str
    outputs: int
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: str
    maximize: bool
    offset: float | tuple[float, ...] = 0.0  # the calibration's shift of the logits
    target_mean: float = 0.0  # regression: the target's standardisation
    target_std: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)  # the weighting actually used

    def targets(self, y: np.ndarray, device: str) -> torch.Tensor:
        """``y`` as the loss reads it: 0/1 floats, class indexes, or the standardised value."""
        if self.task == "multiclass":
            return torch.from_numpy(y.astype(np.int64)).to(device)
        if self.task == "regression":
            return torch.from_numpy(((y - self.target_mean) / self.target_std).astype(np.float32)).to(device)
        return torch.from_numpy(y.astype(np.float32)).to(device)

    def score(self, module: TabularNet, numeric: torch.Tensor, codes: torch.Tensor, y: np.ndarray) -> float:
        """The holdout metric of the module's current weights."""
        if self.task == "binary":
            return pr_auc(y, _predict(module, numeric, codes))  # the logit offset moves no rank
        module.eval()
        with torch.inference_mode():
            scores = _scores(module(numeric, codes), self.task, self.offset, self.target_mean, self.target_std)
        if self.task == "multiclass":
            return float(log_loss(y, scores, labels=list(range(self.outputs))))
        return float(root_mean_squared_error(y, scores))

    def better(self, score: float, best: float) -> bool:
        return score > best if self.maximize else score < best


def _head(task: str, num_class: int | None, p: dict[str, Any], y: np.ndarray, device: str) -> _Head:
    """The head of ``task`` with its class weighting (binary ``pos_weight``, multiclass ``class_weight``)
    or target standardisation (regression), from all the training rows ``y``."""
    _check_weighting(task, p)
    prior = p["calibration"] == "prior"
    if task == "binary":
        pos_weight = float(p["pos_weight"] or _class_ratio(y))
        if pos_weight <= 0:
            raise ValueError(f"pos_weight: must be positive, got {pos_weight}")
        bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
        offset = -float(np.log(pos_weight)) if prior else 0.0
        return _Head(task, 1, bce, "pr_auc", True, offset, params={"pos_weight": pos_weight})
    if task == "regression":
        mean, std = float(np.mean(y)), float(np.std(y))
        return _Head(task, 1, nn.MSELoss(), "rmse", False, target_mean=mean, target_std=std if std > 1e-12 else 1.0)
    return _multiclass_head(num_class, p["class_weight"] or "balanced", prior, y, device)


def _check_weighting(task: str, p: dict[str, Any]) -> None:
    """``ValueError`` for an unknown task, or a weighting it does not know or that weighs another task."""
    if task not in TASKS:
        raise ValueError(f"torch trains tasks {', '.join(TASKS)}, not '{task}'")
    if task != "binary" and p["pos_weight"] not in (None, 1):
        raise ValueError(f"pos_weight weighs a binary task's positives, not {task}'s: remove it")
    if p["class_weight"] not in (None, *CLASS_WEIGHTS):
        raise ValueError(f"class_weight: '{p['class_weight']}' is not one of {', '.join(CLASS_WEIGHTS)}")
    if task != "multiclass" and p["class_weight"] == "balanced":
        raise ValueError(f"class_weight weighs a multiclass task's classes, not {task}'s: remove it")


def _multiclass_head(num_class: int | None, class_weight: str, prior: bool, y: np.ndarray, device: str) -> _Head:
    """Cross-entropy over ``num_class`` logits; balanced weights give each row ``rows / (classes x rows
    of its class)`` (XGBoost's rule), and the loss is the mean of the rows' weighted losses."""
    if num_class is None or num_class < 2:
        raise ValueError(f"multiclass training needs num_class (the number of classes), got {num_class}")
    counts = np.bincount(y.astype(np.int64), minlength=num_class)
    if np.count_nonzero(counts) < 2:
        raise ValueError("the training rows hold a single class: nothing to learn")
    if class_weight == "balanced":
        weights = np.where(counts > 0, len(y) / (num_class * np.maximum(counts, 1)), 1.0)
    else:
        weights = np.ones(num_class)
    per_class = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=device), reduction="none")

    def loss(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return per_class(outputs, target).mean()

    offset = tuple(-float(np.log(w)) for w in weights) if prior else tuple(0.0 for _ in weights)
    return _Head("multiclass", num_class, loss, "log_loss", False, offset, params={"class_weight": class_weight})


def fit_torch(
    train_x: pd.DataFrame,
    train_y: np.ndarray,
    holdout_x: pd.DataFrame,
    holdout_y: np.ndarray,
    params: dict[str, Any] | None = None,
    *,
    seed: int = 7,
    checkpoint_dir: str | LakePath | None = None,
    workers: DdpGroup | None = None,
    task: str = "binary",
    num_class: int | None = None,
) -> TorchFit:
    """Train (or resume) a :class:`TabularNet` on built features; return the best epoch's model.

    ``train_y`` and ``holdout_y`` are the targets of ``task`` (:func:`tradewind.data.target.label_targets`):
    0/1, class indexes below ``num_class`` (multiclass), or values (regression).
    With ``workers`` this process is one DDP rank: it trains on its part of each epoch and all
    ranks end with the same weights.
    """
    p = merge_params(params)
    if p["calibration"] not in CALIBRATIONS:
        raise ValueError(f"calibration: '{p['calibration']}' is not one of {', '.join(CALIBRATIONS)}")
    if workers is not None:
        workers.shard(len(train_x))  # checks the worker count against the rows before any collective call
    device = workers.device if workers is not None else resolve_device(p["device"], "torch")
    if p["threads"]:
        torch.set_num_threads(int(p["threads"]))
    head = _head(task, num_class, p, train_y, device)
    torch.manual_seed(seed)
    config = TabularConfig.for_features(train_x, p["hidden"], p["dropout"], p["max_embedding_dim"], head.outputs)
    module = TabularNet(config)
    train_num, train_codes = encode(train_x, config)
    module.set_scaling(train_num)
    module.to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    key = _fingerprint(p, seed, config, train_x, holdout_x, task)
    store = CheckpointStore(checkpoint_dir, CHECKPOINT_FILE) if checkpoint_dir is not None else None
    state = _resume(store, key, module, optimizer, device) or _State(best_score=-np.inf if head.maximize else np.inf)
    resumed_from = state.epoch if state.epoch else None
    net = workers.wrap(module) if workers is not None else module
    writer = workers is None or workers.is_writer
    batch_size = workers.batch_size(int(p["batch_size"])) if workers is not None else int(p["batch_size"])

    train_t = (train_num.to(device), train_codes.to(device), head.targets(train_y, device))
    hold_num, hold_codes = (t.to(device) for t in encode(holdout_x, config))
    total, start = int(p["epochs"]), state.epoch
    progress = Progress(total=total, start=start)
    for epoch in range(start, total):
        if state.bad_epochs >= p["patience"]:
            log.info("torch: stopped early after epoch %d (no gain in %d epochs)", state.epoch, state.bad_epochs)
            break
        order = workers.epoch_order(len(train_y), seed + epoch) if workers is not None else None
        loss = _train_epoch(net, optimizer, head.loss, train_t, batch_size, seed + epoch, order)
        score = head.score(module, hold_num, hold_codes, holdout_y)
        if workers is not None:
            score = workers.agree(score)
        _record(state, module, epoch, loss, score, head)
        elapsed, remaining = progress.timing(epoch + 1)
        log.info(
            "torch epoch %d/%d loss %.5f holdout %s %.5f (best %.5f at %d) elapsed %.1fs remaining ~%.1fs",
            epoch + 1,
            total,
            loss,
            head.metric,
            score,
            state.best_score,
            state.best_epoch + 1,
            elapsed,
            remaining,
        )
        if store is not None and writer:
            _save_checkpoint(store, key, module, optimizer, state)
    if not state.best_state:
        raise ValueError("no epoch was trained (epochs must be at least 1)")
    module.load_state_dict(state.best_state)
    backend = TorchBackend(module, head.offset, task=task, target_mean=head.target_mean, target_std=head.target_std)
    unused = {"binary": ("class_weight",), "multiclass": ("pos_weight",)}.get(task, ("pos_weight", "class_weight"))
    return TorchFit(
        backend=backend,
        params={**{k: v for k, v in p.items() if k not in unused}, **head.params, "device": device},
        device=device,
        epochs_total=state.epoch,
        epochs_trained=state.epoch - start,
        resumed_from=resumed_from,
        best_epoch=state.best_epoch,
        best_score=state.best_score,
        history=state.history,
        workers=workers.world_size if workers is not None else 1,
    )


def _fingerprint(
    p: dict[str, Any],
    seed: int,
    config: TabularConfig,
    train_x: pd.DataFrame,
    holdout_x: pd.DataFrame,
    task: str = "binary",
) -> str:
    """What a checkpoint must match to be continued. ``epochs`` is left out, so a run may be extended.

    A binary run's fingerprint leaves out what only the other tasks have (their task, its outputs,
    ``class_weight``), so it is the one binary runs always had."""
    # calibration is applied after training: a checkpoint serves either choice (binary; a multiclass
    # run's early stopping reads calibrated probabilities, so there it counts).
    skip = ("device", "threads", "epochs", "calibration") if task == "binary" else ("device", "threads", "epochs")
    relevant = {k: v for k, v in p.items() if k not in skip and not (task == "binary" and k == "class_weight")}
    architecture = config.to_dict()
    identity: dict[str, Any] = {"task": task} if task != "binary" else {}
    if task == "binary":
        architecture.pop("outputs")
    return fingerprint(
        {"params": relevant, "seed": seed, "config": architecture, "rows": [len(train_x), len(holdout_x)], **identity}
    )


def _class_ratio(y: np.ndarray) -> float:
    positives = int(np.sum(y))
    if positives == 0:
        raise ValueError("the training rows hold no positive label: nothing to learn")
    return float((len(y) - positives) / positives)


def _train_epoch(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    batch_size: int,
    shuffle_seed: int,
    order: torch.Tensor | None = None,
) -> float:
    """One pass over the rows in an order fixed by ``shuffle_seed`` (or ``order``: a DDP rank's part).

    Returns the mean loss over this process's rows.
    """
    numeric, codes, target = data
    module.train()
    if order is None:
        order = torch.randperm(len(target), generator=torch.Generator().manual_seed(shuffle_seed))
    order = order.to(target.device)
    total = 0.0
    for begin in range(0, len(order), batch_size):
        index = order[begin : begin + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(module(numeric[index], codes[index]), target[index])
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(index)
    return total / max(len(order), 1)


def _predict(module: TabularNet, numeric: torch.Tensor, codes: torch.Tensor) -> np.ndarray:
    """The binary holdout scores, without the calibration's offset (PR-AUC reads ranks only)."""
    module.eval()
    with torch.inference_mode():
        return torch.sigmoid(module(numeric, codes)).double().cpu().numpy()


def _record(state: _State, module: TabularNet, epoch: int, loss: float, score: float, head: _Head) -> None:
    """Add an epoch to the history; keep a copy of the weights when the holdout score improved."""
    state.epoch = epoch + 1
    state.history.append({"epoch": epoch + 1, "loss": loss, head.metric: score})
    if head.better(score, state.best_score):
        state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
        state.best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    else:
        state.bad_epochs += 1


def _save_checkpoint(
    store: CheckpointStore, key: str, module: TabularNet, optimizer: torch.optim.Optimizer, state: _State
) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "fingerprint": key,
            "model": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            **asdict(state),
        },
        buffer,
    )
    store.write(buffer.getvalue())
    log.info("torch: checkpoint after epoch %d -> %s", state.epoch, store.uri)


def _resume(
    store: CheckpointStore | None, key: str, module: TabularNet, optimizer: torch.optim.Optimizer, device: str
) -> _State | None:
    """Load a matching checkpoint into ``module`` and ``optimizer`` and return its state; None to start over."""
    if store is None:
        return None
    raw = store.read()
    if raw is None:
        log.info("torch: no checkpoint at %s: starting from epoch 0", store.uri)
        return None
    saved = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
    if saved.get("fingerprint") != key:
        log.warning(
            "torch: checkpoint at %s was made with other params or data (fingerprint %s, now %s): starting over",
            store.uri,
            saved.get("fingerprint"),
            key,
        )
        return None
    module.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"].cpu())
    state = _State(**{k: saved[k] for k in _State.__dataclass_fields__})
    state.best_state = {k: v.cpu() for k, v in state.best_state.items()}
    log.info("torch: resumed from checkpoint %s after epoch %d", store.uri, state.epoch)
    return state
