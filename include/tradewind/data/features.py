"""Features: the one code path that turns records into model inputs, for training and serving.

Training calls :func:`build_features` on validated partitions; the model server calls the same
function on request payloads (a frame of one or many rows), so the two cannot drift apart.
Everything is derived from the dataset spec: numeric and integer columns pass through, booleans
become 0/1, categoricals become pandas categoricals over the spec's categories (an unseen value
becomes missing, which both XGBoost and the PyTorch embeddings handle), and the timestamp adds
hour-of-day, weekday, night and weekend features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradewind.data.spec import ColumnType, DatasetSpec

TIME_FEATURES = ("hour_of_day", "day_of_week", "is_night", "is_weekend")


@dataclass(frozen=True)
class FeatureSet:
    """The model inputs of a data set: their order and which are categorical."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def feature_set(spec: DatasetSpec) -> FeatureSet:
    numeric: list[str] = []
    categorical: list[str] = []
    for name in spec.feature_columns:
        kind = spec.columns[name].type
        if kind == ColumnType.categorical:
            categorical.append(name)
        elif kind in (ColumnType.numeric, ColumnType.integer, ColumnType.boolean):
            numeric.append(name)
    return FeatureSet(numeric=(*numeric, *TIME_FEATURES), categorical=tuple(categorical))


def build_features(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Model inputs for ``frame`` (any number of rows), in :func:`feature_set` order.

    Raises ``KeyError`` naming the missing input columns.
    """
    fs = feature_set(spec)
    needed = [c for c in (*spec.feature_columns, spec.timestamp) if c not in frame.columns]
    if needed:
        raise KeyError(f"missing input column(s) for {spec.name} features: {', '.join(needed)}")
    out: dict[str, pd.Series | np.ndarray] = {}
    for name in fs.numeric:
        if name in TIME_FEATURES:
            continue
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float32")
    ts = pd.to_datetime(frame[spec.timestamp], utc=True)
    hour = ts.dt.hour
    weekday = ts.dt.weekday
    out["hour_of_day"] = hour.astype("float32")
    out["day_of_week"] = weekday.astype("float32")
    out["is_night"] = ((hour <= 5) | (hour >= 23)).astype("float32")
    out["is_weekend"] = (weekday >= 5).astype("float32")
    for name in fs.categorical:
        cats = list(spec.columns[name].categories or ())
        out[name] = pd.Categorical(frame[name].astype(object), categories=cats)
    result = pd.DataFrame(out, index=frame.index)
    return result[fs.columns]


def labels(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    return frame[spec.label].astype("int64").to_numpy()
