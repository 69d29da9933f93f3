"""PyTorch tabular trainer: an embedding per categorical, standardised numerics, an MLP.

* Each categorical feature gets an embedding of ``len(spec categories) + 1`` rows; row 0 is the
  "unknown or missing" value (``build_features`` turns an unseen category into NaN).
* Numeric features are standardised with the training rows' mean and std, kept as buffers of the
  module, so a saved ``state_dict`` carries them and serving needs no separate scaler; a missing
  numeric value becomes the mean.
* Loss: BCE with logits and ``pos_weight`` = negatives/positives (class weighting), AdamW.
* Calibration (``calibration: prior``, the default): class weighting by ``w`` moves every logit up
  by ``log(w)`` (it trains on odds ``w`` times the true ones), so the saved model subtracts
  ``log(w)`` before the sigmoid. Scores read as probabilities again (the gate checks the ECE);
  the ranking, and so PR-AUC and early stopping, is unchanged.
* Early stopping on the holdout PR-AUC with ``patience``; the best epoch's weights are returned.
* Deterministic for a seed: weights from ``torch.manual_seed``, batch order from a generator
  seeded per epoch, dropout from the global RNG whose state is checkpointed.
* A checkpoint after every epoch (model, optimizer, epoch, best state, RNG) on any fsspec path; a
  run that finds one with the same fingerprint continues after its last epoch.

Distributed (``workers``, a :class:`~tradewind.training.distributed.DdpGroup` inside a torchrun
process group): the module is wrapped in ``DistributedDataParallel``, each rank takes its part of
the single-worker epoch order from a ``DistributedSampler`` with a per-rank batch of
``batch_size / world_size`` rows, and rank 0's holdout score decides early stopping on every
rank. The scaling, class weight and saved form stay those of the single-worker model; rank 0 alone
writes checkpoints.
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
    "pos_weight": None,  # None: negatives/positives of the training rows
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

    @classmethod
    def for_features(cls, features: pd.DataFrame, hidden: list[int], dropout: float, max_dim: int) -> TabularConfig:
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
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularConfig:
        tuples = {k: tuple(data[k]) for k in ("numeric", "categorical", "cardinalities", "embedding_dims", "hidden")}
        return cls(**tuples, dropout=float(data["dropout"]))


class TabularNet(nn.Module):
    """Embeddings + standardised numerics -> MLP -> one logit."""

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
        layers.append(nn.Linear(width, 1))
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
    """A trained :class:`TabularNet` as a :class:`~tradewind.training.model.ModelBackend`."""

    framework: ClassVar[str] = "torch"

    def __init__(self, module: TabularNet, logit_offset: float = 0.0) -> None:
        self.module = module.cpu().eval()
        self.logit_offset = float(logit_offset)

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
            return torch.sigmoid(self.module(numeric, codes) + self.logit_offset).double().numpy()

    def to_files(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        buffer = io.BytesIO()
        torch.save(self.module.state_dict(), buffer)
        config = {
            "file": MODEL_FILE,
            "architecture": self.module.config.to_dict(),
            "logit_offset": self.logit_offset,
            "torch_version": torch.__version__,
        }
        return {MODEL_FILE: buffer.getvalue()}, config

    @classmethod
    def from_files(cls, read: Callable[[str], bytes], config: dict[str, Any]) -> TorchBackend:
        module = TabularNet(TabularConfig.from_dict(config["architecture"]))
        state = torch.load(io.BytesIO(read(config.get("file", MODEL_FILE))), map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        return cls(module, float(config.get("logit_offset", 0.0)))


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
) -> TorchFit:
    """Train (or resume) a :class:`TabularNet` on built features; return the best epoch's model.

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
    torch.manual_seed(seed)
    config = TabularConfig.for_features(train_x, p["hidden"], p["dropout"], p["max_embedding_dim"])
    module = TabularNet(config)
    train_num, train_codes = encode(train_x, config)
    module.set_scaling(train_num)
    module.to(device)
    pos_weight = float(p["pos_weight"] or _class_ratio(train_y))
    if pos_weight <= 0:
        raise ValueError(f"pos_weight: must be positive, got {pos_weight}")
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    optimizer = torch.optim.AdamW(module.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    key = _fingerprint(p, seed, config, train_x, holdout_x)
    store = CheckpointStore(checkpoint_dir, CHECKPOINT_FILE) if checkpoint_dir is not None else None
    state = _resume(store, key, module, optimizer, device)
    resumed_from = state.epoch if state.epoch else None
    net = workers.wrap(module) if workers is not None else module
    writer = workers is None or workers.is_writer
    batch_size = workers.batch_size(int(p["batch_size"])) if workers is not None else int(p["batch_size"])

    train_t = (train_num.to(device), train_codes.to(device), torch.from_numpy(train_y.astype(np.float32)).to(device))
    holdout_t = tuple(t.to(device) for t in encode(holdout_x, config))
    total, start = int(p["epochs"]), state.epoch
    progress = Progress(total=total, start=start)
    for epoch in range(start, total):
        if state.bad_epochs >= p["patience"]:
            log.info("torch: stopped early after epoch %d (no gain in %d epochs)", state.epoch, state.bad_epochs)
            break
        order = workers.epoch_order(len(train_y), seed + epoch) if workers is not None else None
        loss = _train_epoch(net, optimizer, loss_fn, train_t, batch_size, seed + epoch, order)
        score = pr_auc(holdout_y, _predict(module, *holdout_t))
        if workers is not None:
            score = workers.agree(score)
        _record(state, module, epoch, loss, score)
        elapsed, remaining = progress.timing(epoch + 1)
        log.info(
            "torch epoch %d/%d loss %.5f holdout pr_auc %.5f (best %.5f at %d) elapsed %.1fs remaining ~%.1fs",
            epoch + 1,
            total,
            loss,
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
    offset = -float(np.log(pos_weight)) if p["calibration"] == "prior" else 0.0
    return TorchFit(
        backend=TorchBackend(module, logit_offset=offset),
        params={**p, "pos_weight": pos_weight, "device": device},
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
    p: dict[str, Any], seed: int, config: TabularConfig, train_x: pd.DataFrame, holdout_x: pd.DataFrame
) -> str:
    """What a checkpoint must match to be continued. ``epochs`` is left out, so a run may be extended."""
    # calibration is applied after training: a checkpoint serves either choice.
    relevant = {k: v for k, v in p.items() if k not in ("device", "threads", "epochs", "calibration")}
    return fingerprint(
        {"params": relevant, "seed": seed, "config": config.to_dict(), "rows": [len(train_x), len(holdout_x)]}
    )


def _class_ratio(y: np.ndarray) -> float:
    positives = int(np.sum(y))
    if positives == 0:
        raise ValueError("the training rows hold no positive label: nothing to learn")
    return float((len(y) - positives) / positives)


def _train_epoch(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
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
    module.eval()
    with torch.inference_mode():
        return torch.sigmoid(module(numeric, codes)).double().cpu().numpy()


def _record(state: _State, module: TabularNet, epoch: int, loss: float, score: float) -> None:
    """Add an epoch to the history; keep a copy of the weights when the holdout score improved."""
    state.epoch = epoch + 1
    state.history.append({"epoch": epoch + 1, "loss": loss, "pr_auc": score})
    if score > state.best_score:
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
) -> _State:
    """Load a matching checkpoint into ``module`` and ``optimizer``; a fresh state otherwise."""
    if store is None:
        return _State()
    raw = store.read()
    if raw is None:
        log.info("torch: no checkpoint at %s: starting from epoch 0", store.uri)
        return _State()
    saved = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
    if saved.get("fingerprint") != key:
        log.warning(
            "torch: checkpoint at %s was made with other params or data (fingerprint %s, now %s): starting over",
            store.uri,
            saved.get("fingerprint"),
            key,
        )
        return _State()
    module.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"].cpu())
    state = _State(**{k: saved[k] for k in _State.__dataclass_fields__})
    state.best_state = {k: v.cpu() for k, v in state.best_state.items()}
    log.info("torch: resumed from checkpoint %s after epoch %d", store.uri, state.epoch)
    return state
