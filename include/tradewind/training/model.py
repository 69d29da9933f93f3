"""The trained-model contract shared by the trainers, the registry and the model server.

A :class:`TrainedModel` is framework-agnostic: it holds the dataset spec it was trained on and a
framework *backend* (an XGBoost booster or a PyTorch module). :meth:`TrainedModel.predict_proba`
takes RAW records (the spec's columns, as stored in the lake or posted to the server) and builds
their features itself with :mod:`tradewind.data.features` (the builder behind ``build_features``),
so training and serving share one feature path and cannot drift apart. It hands the backend the
features as arrays (:class:`~tradewind.data.features.FeatureMatrix`), not as a pandas frame: the
same values, without pandas' fixed cost per call, which is most of the cost of scoring one record.

On disk a model is a self-describing folder (any fsspec path)::

    tradewind_model.json   manifest: format version, framework, the full dataset spec and its
                           fingerprint, the feature set, file hashes, backend config, metadata
    model.ubj              XGBoost booster (Universal Binary JSON)      -- or --
    model.pt               PyTorch state_dict (architecture config lives in the manifest)

The manifest is written last, so a folder without one is an unfinished save, never a model.
Loading needs nothing but the folder: no settings, no spec file, no Airflow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeAlias

import numpy as np
import pandas as pd
from upath import UPath

from tradewind.data.columns import ColumnBatch
from tradewind.data.features import FeatureMatrix, FeatureSet, build_features, feature_builder, feature_set
from tradewind.data.spec import DatasetSpec, SpecError, parse_spec
from tradewind.storage import LakePath, as_path, atomic_write_bytes, atomic_write_text

MODEL_MANIFEST = "tradewind_model.json"
# The drift checks' reference sample, written into the folder by the promote stage (tradewind.monitoring.reference).
REFERENCE_FILE = "reference.parquet"
FORMAT_VERSION = 1

# framework name -> (module, backend class); imported on demand so an XGBoost model never imports torch.
BACKENDS: dict[str, tuple[str, str]] = {
    "xgboost": ("tradewind.training.xgb", "XGBoostBackend"),
    "torch": ("tradewind.training.torch_tabular", "TorchBackend"),
}

# A frame, columns (a ColumnBatch), one record as a mapping, or a sequence of records.
Records: TypeAlias = pd.DataFrame | ColumnBatch | Mapping[str, Any] | Sequence[Mapping[str, Any]]


class ModelLoadError(ValueError):
    """A model folder is missing, incomplete, corrupted or of an unknown format (the message says which)."""


class ModelBackend(Protocol):
    """What a framework adds to a model: scoring of built features and (de)serialisation."""

    framework: ClassVar[str]

    @property
    def native(self) -> Any:
        """The framework object (``xgboost.Booster``, ``torch.nn.Module``)."""
        ...

    def predict_features(self, features: pd.DataFrame) -> np.ndarray:
        """Probabilities of the positive class for rows already passed through ``build_features``."""
        ...

    def predict_matrix(self, features: FeatureMatrix) -> np.ndarray:
        """The same as ``predict_features(features.to_frame())``, bit for bit, without the frame.

        Optional: a backend without it is given the frame."""
        ...

    def to_files(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        """The files to write (name -> bytes) and a JSON-ready config for the manifest."""
        ...

    @classmethod
    def from_files(cls, read: Callable[[str], bytes], config: dict[str, Any]) -> ModelBackend:
        """Rebuild the backend from its files (``read(name)``) and its manifest config."""
        ...


def backend_class(framework: str) -> type[ModelBackend]:
    """The backend class of a framework name; ``ValueError`` listing the known ones otherwise."""
    if framework not in BACKENDS:
        raise ValueError(f"unknown framework '{framework}' (known: {', '.join(sorted(BACKENDS))})")
    module, name = BACKENDS[framework]
    cls: type[ModelBackend] = getattr(importlib.import_module(module), name)
    return cls


@dataclass
class TrainedModel:
    """A model ready to score raw records of its data set, and to be saved or logged."""

    spec: DatasetSpec
    backend: ModelBackend
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def framework(self) -> str:
        return self.backend.framework

    @property
    def feature_set(self) -> FeatureSet:
        return feature_set(self.spec)

    @property
    def spec_name(self) -> str:
        return self.spec.name

    @property
    def spec_fingerprint(self) -> str:
        return self.spec.fingerprint

    @property
    def native(self) -> Any:
        """The underlying booster or module."""
        return self.backend.native

    def features(self, records: Records) -> pd.DataFrame:
        """The model inputs of raw records: the one shared feature path."""
        return build_features(_as_frame(records), self.spec)

    def feature_matrix(self, records: pd.DataFrame | ColumnBatch) -> FeatureMatrix:
        """The model inputs of raw records as arrays (what :meth:`features` holds)."""
        return feature_builder(self.spec).matrix(records)

    def predict_matrix(self, features: FeatureMatrix) -> np.ndarray:
        """Positive-class probabilities (float64, one per row) of built features."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float64)
        predict = getattr(self.backend, "predict_matrix", None)
        scores = predict(features) if predict is not None else self.backend.predict_features(features.to_frame())
        return np.asarray(scores, dtype=np.float64)

    def predict_proba(self, records: Records) -> np.ndarray:
        """Scores (float64) of raw records of the spec's columns, per the spec's task: the positive class's
        probability per row (binary), a rows x classes matrix in ``classes`` order (multiclass), the value
        per row (regression)."""
        frame = _as_frame(records)
        if frame.empty:
            return np.zeros(0, dtype=np.float64)
        return self.predict_matrix(self.feature_matrix(frame))

    def save(self, directory: str | LakePath) -> UPath:
        """Write the model folder (data files first, the manifest last); return its path."""
        folder = as_path(directory)
        files, config = self.backend.to_files()
        for name, data in files.items():
            atomic_write_bytes(folder / name, data)
        manifest = {
            "format_version": FORMAT_VERSION,
            "framework": self.framework,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
            "backend": config,
            "spec": {
                "name": self.spec.name,
                "fingerprint": self.spec.fingerprint,
                "schema_version": self.spec.schema_version,
                "definition": self.spec.model_dump(mode="json"),
            },
            "features": {"numeric": list(self.feature_set.numeric), "categorical": list(self.feature_set.categorical)},
            "metadata": self.metadata,
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
        }
        atomic_write_text(folder / MODEL_MANIFEST, json.dumps(manifest, indent=2, default=str))
        return folder


def read_model_manifest(directory: str | LakePath) -> dict[str, Any]:
    """The manifest of a model folder (cheap: no model file is read)."""
    path = as_path(directory) / MODEL_MANIFEST
    if not path.exists():
        raise ModelLoadError(f"{path}: not a Tradewind model folder (no {MODEL_MANIFEST})")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{path}: manifest is not valid JSON ({err})") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(f"{path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    return manifest


def load_model(directory: str | LakePath) -> TrainedModel:
    """Load a model folder written by :meth:`TrainedModel.save`, checking file hashes and the spec."""
    folder = as_path(directory)
    manifest = read_model_manifest(folder)
    spec = _spec_of(folder, manifest)
    try:
        cls = backend_class(str(manifest.get("framework")))
    except ValueError as err:
        raise ModelLoadError(f"{folder}: {err}") from None
    hashes: dict[str, str] = manifest.get("files", {})

    def read(name: str) -> bytes:
        if name not in hashes:
            raise ModelLoadError(f"{folder}: '{name}' is not listed in the manifest")
        data = (folder / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != hashes[name]:
            raise ModelLoadError(f"{folder}: '{name}' does not match its hash in the manifest (corrupted?)")
        return data

    backend = cls.from_files(read, manifest.get("backend", {}))
    return TrainedModel(spec=spec, backend=backend, metadata=manifest.get("metadata", {}))


def _spec_of(folder: UPath, manifest: dict[str, Any]) -> DatasetSpec:
    stored = manifest.get("spec") or {}
    try:
        spec = parse_spec(stored.get("definition") or {}, origin=f"{folder}/{MODEL_MANIFEST}")
    except SpecError as err:
        raise ModelLoadError(str(err)) from None
    if spec.fingerprint != stored.get("fingerprint"):
        raise ModelLoadError(
            f"{folder}: the stored spec's fingerprint {spec.fingerprint} differs from the recorded "
            f"{stored.get('fingerprint')} (edited manifest or incompatible tradewind version)"
        )
    recorded = manifest.get("features") or {}
    fs = feature_set(spec)
    if recorded and (list(fs.numeric), list(fs.categorical)) != (recorded.get("numeric"), recorded.get("categorical")):
        raise ModelLoadError(
            f"{folder}: this tradewind version derives features {fs.columns}, the model was trained on "
            f"{[*recorded.get('numeric', []), *recorded.get('categorical', [])]}"
        )
    return spec


def _as_frame(records: Records) -> pd.DataFrame | ColumnBatch:
    if isinstance(records, pd.DataFrame | ColumnBatch):
        return records
    if isinstance(records, Mapping):
        return pd.DataFrame([dict(records)])
    return pd.DataFrame([dict(r) for r in records])
