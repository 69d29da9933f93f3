"""The reference of a drift check: a sample of the champion's training data, stored with the model version.

At registration, :func:`build_reference` takes the training rows (raw spec columns, as the trainer
read them), keeps the feature columns and the label, adds the model's scores on those rows when
given (the reference for prediction drift) and samples at most ``max_rows`` rows with a seed.
The scores are named as batch scoring names them (:func:`tradewind.data.target.response_columns`):
binary ``score``; multiclass ``probability_<class>`` per class and ``predicted_class``; regression
``prediction``. :func:`conform_reference` reads a reference written before that naming (multiclass
``score_<class>``, regression ``score``) as if it had been written with it.
:func:`save_reference` writes it as one Parquet file in one atomic step (any fsspec path, e.g.
``models/<dataset>/<run>/reference.parquet`` in the lake); :func:`load_reference` reads it back.
The file's schema metadata records how it was made (:func:`reference_info`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradewind.data.pii import redact
from tradewind.data.spec import DatasetSpec
from tradewind.data.target import (
    PREDICTED_CLASS_COLUMN,
    PREDICTION_COLUMN,
    predicted_classes,
    probability_columns,
    response_columns,
    target_names,
)
from tradewind.storage import LakePath, as_path, atomic_write_bytes
from tradewind.training.model import REFERENCE_FILE

__all__ = [
    "REFERENCE_FILE",
    "build_reference",
    "conform_reference",
    "load_reference",
    "load_version_reference",
    "save_reference",
]

SCORE_COLUMN: Final = "score"
_META_KEY: Final = b"tradewind.reference"


def sample_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame``, uniformly without replacement, in their original order.

    The same frame, bound and seed always give the same rows; a frame within the bound is returned as is."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.take(keep)


def build_reference(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    max_rows: int | None = 100_000,
    seed: int = 0,
    *,
    scores: np.ndarray | pd.Series | None = None,
    score_column: str = SCORE_COLUMN,
) -> pd.DataFrame:
    """The reference sample of ``frame`` (training rows of ``spec``): feature columns, the label and,
    when ``scores`` (one per row of ``frame``) is given, the model's scores: a binary model's as
    ``score_column``; a multiclass model's (rows x classes) as ``probability_<class>`` per class and
    ``predicted_class``; a regression model's as ``prediction`` (see the module doc)."""
    missing = [c for c in spec.feature_columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{spec.name}: the training rows lack feature column(s) {', '.join(missing)}")
    columns = [*spec.feature_columns, *([spec.label] if spec.label in frame.columns else [])]
    out = frame[columns].reset_index(drop=True)
    if scores is not None:
        out = out.assign(**_score_columns(scores, spec, score_column, len(frame)))
    # Stored with the model version (MLflow and the lake): personal data hashed or dropped as the spec says.
    out = redact(sample_rows(out, max_rows, seed).reset_index(drop=True), spec)
    out.attrs["tradewind_reference"] = {
        "dataset": spec.name,
        "spec_fingerprint": spec.fingerprint,
        "source_rows": len(frame),
        "rows": len(out),
        "max_rows": max_rows,
        "seed": seed,
        "scores": scores is not None,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return out


def _score_columns(scores: Any, spec: DatasetSpec, score_column: str, rows: int) -> dict[str, np.ndarray]:
    """The scores as the task's columns: binary one (``score_column``); multiclass, from a rows x classes
    matrix, ``probability_<class>`` per class and ``predicted_class``; regression ``prediction``."""
    values = np.asarray(scores, dtype=np.float64)
    if spec.task == "multiclass":
        classes = len(target_names(spec) or [])
        if values.shape != (rows, classes):
            raise ValueError(f"scores of shape {values.shape} for {rows} training row(s) and {classes} classes")
        return response_columns(spec, values)
    values = values.reshape(-1)
    if len(values) != rows:
        raise ValueError(f"{len(values)} score(s) for {rows} training row(s)")
    return response_columns(spec, values) if spec.task == "regression" else {score_column: values}


def conform_reference(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """``frame`` with its scores named as :func:`build_reference` names them now: a multiclass
    reference's ``score_<class>`` columns become ``probability_<class>`` (and ``predicted_class`` is
    added from them), a regression reference's ``score`` becomes ``prediction``. A reference already
    named so, or without scores, is returned as it is."""
    if spec.task == "regression" and SCORE_COLUMN in frame.columns and PREDICTION_COLUMN not in frame.columns:
        return frame.rename(columns={SCORE_COLUMN: PREDICTION_COLUMN})
    if spec.task != "multiclass":
        return frame
    names = probability_columns(spec)
    old = [f"{SCORE_COLUMN}_{name}" for name in target_names(spec) or []]
    if not set(names) <= set(frame.columns) and set(old) <= set(frame.columns):
        frame = frame.rename(columns=dict(zip(old, names, strict=True)))
    if PREDICTED_CLASS_COLUMN not in frame.columns and set(names) <= set(frame.columns):
        frame = frame.assign(**{PREDICTED_CLASS_COLUMN: predicted_classes(spec, frame[names].to_numpy(np.float64))})
    return frame


def reference_for_model(model: Any, rows: pd.DataFrame, spec: DatasetSpec, config: Any = None) -> pd.DataFrame:
    """The reference of a trained ``model`` (a ``TrainedModel``): its training ``rows``, sampled by the
    spec's ``drift.max_rows`` and ``drift.seed``, with the model's scores on them as the prediction column.

    Sampling comes first, so only the kept rows are scored."""
    from tradewind.monitoring.config import drift_config

    config = config or drift_config(spec)
    sample = sample_rows(rows, config.max_rows, config.seed)
    scores = model.predict_proba(sample)
    reference = build_reference(
        sample, spec, config.max_rows, config.seed, scores=scores, score_column=config.prediction.column
    )
    reference.attrs["tradewind_reference"]["source_rows"] = len(rows)
    return reference


def save_reference(frame: pd.DataFrame, path: str | LakePath) -> Any:
    """Write ``frame`` as one Parquet file at ``path`` (atomic: readers see the old file or the new one)."""
    target = as_path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    info = frame.attrs.get("tradewind_reference") or {"rows": len(frame)}
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps(info, sort_keys=True, default=str).encode()
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buffer)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def load_reference(path: str | LakePath) -> pd.DataFrame:
    """Read a reference written by :func:`save_reference` (its metadata in ``frame.attrs``)."""
    source = as_path(path)
    if not source.exists():
        raise FileNotFoundError(f"no drift reference at {source}")
    with source.open("rb") as fh:
        table = pq.read_table(fh)
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(_META_KEY)
    frame.attrs["tradewind_reference"] = json.loads(raw) if raw else {}
    return frame


def reference_info(frame: pd.DataFrame) -> dict[str, Any]:
    """How a reference was made (dataset, source rows, rows, seed, scores, ...); ``{}`` if unknown."""
    return dict(frame.attrs.get("tradewind_reference") or {})


def load_version_reference(client: Any, tracking_uri: str, model_name: str, version: str | int) -> pd.DataFrame:
    """The drift reference of ``model_name`` version ``version``, from its registered artifacts, as a frame.

    The download is temporary (see :func:`tradewind.registry.loading.fetch_version_reference`)."""
    from tradewind.registry.loading import fetch_version_reference

    with tempfile.TemporaryDirectory(prefix="tradewind-reference-") as tmp:
        return load_reference(str(fetch_version_reference(client, tracking_uri, model_name, version, tmp)))
