"""What both trainers share: device choice, progress timing, checkpoint files and fingerprints.

Checkpoints live on any fsspec path (``file://``, ``s3://``, ``gs://``) and are written atomically,
so a preempted (spot) worker that restarts finds the last complete checkpoint, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from upath import UPath

from tradewind.storage import LakePath, as_path, atomic_write_bytes, uri

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch is not installed)."""
    try:
        import torch  # optional and heavy: imported only when a device must be chosen
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str | None, what: str) -> str:
    """``cpu`` or ``cuda[:N]`` for ``requested`` (``auto``/None: a GPU when one is visible).

    Asking for CUDA on a machine without a GPU falls back to CPU with one warning line rather
    than failing, so a run scheduled on the wrong node still finishes (and says so in its log).
    """
    want = (requested or "auto").strip().lower()
    if want.split(":")[0] not in DEVICES:
        raise ValueError(f"device: '{requested}' is not one of {', '.join(DEVICES)} (or cuda:N)")
    if want == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda" if want == "auto" else want
    if want == "auto":
        log.info("%s: no GPU visible (torch.cuda.is_available() is False): training on CPU", what)
    else:
        log.warning("%s: device '%s' requested but no GPU is visible: falling back to CPU", what, want)
    return "cpu"


def fingerprint(value: Any) -> str:
    """A short stable hash of JSON-able data: what a checkpoint must match to be resumed."""
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class Progress:
    """Elapsed and estimated remaining time of a loop of ``total`` steps, ``start`` of them done before."""

    total: int
    start: int = 0
    started: float = field(default_factory=time.monotonic)

    def timing(self, done: int) -> tuple[float, float]:
        """(elapsed seconds, estimated seconds left) once step ``done`` (1-based, global) is finished."""
        elapsed = time.monotonic() - self.started
        steps = max(done - self.start, 1)
        return elapsed, elapsed / steps * max(self.total - done, 0)


class CheckpointStore:
    """One named checkpoint file in a folder on any fsspec path."""

    def __init__(self, directory: str | LakePath, name: str) -> None:
        self.path: UPath = as_path(directory) / name

    @property
    def uri(self) -> str:
        return uri(self.path)

    def read(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None

    def write(self, data: bytes) -> None:
        atomic_write_bytes(self.path, data)
