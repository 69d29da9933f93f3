"""Features: the one code path that turns records into model inputs, for training and serving.

Training calls :func:`build_features` on validated partitions; the model server calls the same
definition on request payloads (a frame or a :class:`~tradewind.data.columns.ColumnBatch` of one
or many rows), so the two cannot drift apart. Everything is derived from the dataset spec:
numeric and integer columns pass through, booleans become 0/1, categoricals become codes over the
spec's categories (an unseen value becomes missing, which both XGBoost and the PyTorch embeddings
handle), and the timestamp adds hour-of-day, weekday, night and weekend features.

The definition is computed once, on numpy columns, by :class:`FeatureBuilder`; its result is a
:class:`FeatureMatrix` (a float32 matrix of the numeric features and a matrix of category codes).
:func:`build_features` is that matrix as the pandas frame the trainers take (pandas categoricals
over the spec's categories); the model server hands the matrix to the model directly, which skips
pandas' fixed cost per call (about 2 ms of the 2.5 ms it took to score one record that way).
Columns of types the fast conversions do not cover (strings in a numeric column, nullable
extension arrays, ...) go through the pandas conversion the definition always used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import numpy as np
import pandas as pd

from tradewind.data.columns import ColumnBatch
from tradewind.data.spec import ColumnType, DatasetSpec
from tradewind.data.target import label_targets

TIME_FEATURES = ("hour_of_day", "day_of_week", "is_night", "is_weekend")
# Up to this many rows categories are looked up in a dict; beyond, pandas' hash table is faster.
_LOOKUP_ROWS: Final = 2048
_TICKS_PER_SECOND: Final = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_NAT: Final = np.iinfo(np.int64).min
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday is 0)

# The input of the feature path: a frame, or the same columns without one.
Rows: TypeAlias = pd.DataFrame | ColumnBatch


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


@dataclass(frozen=True)
class FeatureMatrix:
    """Built features as arrays: ``numeric`` (rows x numeric features, float32, NaN for missing) and
    ``codes`` (rows x categorical features, int32: the position in the spec's categories, -1 for
    unknown or missing), in :func:`feature_set` order."""

    features: FeatureSet
    categories: tuple[tuple[str, ...], ...]
    numeric: np.ndarray
    codes: np.ndarray
    index: pd.Index | None = None  # the input frame's index (None: 0..rows-1)

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def dense(self) -> np.ndarray:
        """All features as one float32 matrix, the codes as numbers and NaN for unknown or missing:
        XGBoost's form of categorical input."""
        rows, width = self.numeric.shape
        out = np.empty((rows, width + self.codes.shape[1]), dtype=np.float32)
        out[:, :width] = self.numeric
        codes = out[:, width:]
        codes[...] = self.codes
        codes[self.codes < 0] = np.nan
        return out

    def to_frame(self) -> pd.DataFrame:
        """The matrix as :func:`build_features` returns it: float32 columns, then pandas categoricals."""
        data: dict[str, Any] = {name: self.numeric[:, i] for i, name in enumerate(self.features.numeric)}
        for i, (name, cats) in enumerate(zip(self.features.categorical, self.categories, strict=True)):
            data[name] = pd.Categorical.from_codes(self.codes[:, i], dtype=pd.CategoricalDtype(list(cats)))
        index = self.index if self.index is not None else pd.RangeIndex(len(self))
        return pd.DataFrame(data, index=index)

    @classmethod
    def concat(cls, parts: Sequence[FeatureMatrix]) -> FeatureMatrix:
        """The rows of ``parts`` (built by one builder) one after the other, indexed 0..rows-1."""
        first = parts[0]
        return cls(
            features=first.features,
            categories=first.categories,
            numeric=np.concatenate([p.numeric for p in parts]),
            codes=np.concatenate([p.codes for p in parts]),
        )


class FeatureBuilder:
    """The feature definition of one spec, prepared once (names, category lookups)."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.features = feature_set(spec)
        self.inputs = (*spec.feature_columns, spec.timestamp)
        self.passthrough = tuple(n for n in self.features.numeric if n not in TIME_FEATURES)
        self.categories = tuple(tuple(spec.columns[n].categories or ()) for n in self.features.categorical)
        self._lookups = tuple({c: i for i, c in enumerate(cats)} for cats in self.categories)

    def matrix(self, records: Rows) -> FeatureMatrix:
        """Model inputs for ``records`` (any number of rows). Raises ``KeyError`` naming missing columns."""
        missing = [c for c in self.inputs if c not in records]
        if missing:
            raise KeyError(f"missing input column(s) for {self.spec.name} features: {', '.join(missing)}")
        rows = len(records)
        numeric = np.empty((rows, len(self.features.numeric)), dtype=np.float32)
        for i, name in enumerate(self.passthrough):
            numeric[:, i] = _as_float32(records[name])
        hour, weekday, known = _time_parts(records[self.spec.timestamp])
        at = len(self.passthrough)
        numeric[:, at] = np.where(known, hour, np.nan)
        numeric[:, at + 1] = np.where(known, weekday, np.nan)
        numeric[:, at + 2] = known & ((hour <= 5) | (hour >= 23))
        numeric[:, at + 3] = known & (weekday >= 5)
        codes = np.empty((rows, len(self.features.categorical)), dtype=np.int32)
        for i, name in enumerate(self.features.categorical):
            codes[:, i] = _codes(records[name], self.categories[i], self._lookups[i])
        index = records.index if isinstance(records, pd.DataFrame) else None
        return FeatureMatrix(self.features, self.categories, numeric, codes, index)


_BUILDERS: dict[int, FeatureBuilder] = {}


def feature_builder(spec: DatasetSpec) -> FeatureBuilder:
    """The (cached) builder of ``spec``."""
    builder = _BUILDERS.get(id(spec))
    if builder is None or builder.spec is not spec:
        if len(_BUILDERS) >= 64:
            _BUILDERS.clear()
        builder = _BUILDERS[id(spec)] = FeatureBuilder(spec)
    return builder


def build_features(frame: Rows, spec: DatasetSpec) -> pd.DataFrame:
    """Model inputs for ``frame`` (any number of rows), in :func:`feature_set` order, as a frame.

    Raises ``KeyError`` naming the missing input columns.
    """
    return feature_builder(spec).matrix(frame).to_frame()


def labels(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """The training target of each row (:func:`tradewind.data.target.label_targets`): 0/1 for binary,
    the class index for multiclass, the value for regression; ``LabelError`` on an undeclared value."""
    return label_targets(frame, spec)


# -- one column each --------------------------------------------------------------------------
def _values(column: Any) -> Any:
    """A Series' array (numpy or pandas extension); anything else as it is."""
    return column.array if isinstance(column, pd.Series | pd.Index) else column


def _as_float32(column: Any) -> np.ndarray:
    """A numeric, integer or boolean input as float32; what is not a number becomes NaN."""
    values = _values(column)
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float32)
    series = column if isinstance(column, pd.Series) else pd.Series(values, copy=False)
    converted: pd.Series = pd.to_numeric(series, errors="coerce").astype("float32")
    return converted.to_numpy()


def _time_parts(column: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC hour of day and weekday (Monday 0) of a timestamp input, and where it is known (not NaT).

    A naive time is read as UTC, a zoned one converted to UTC; strings are parsed by pandas."""
    values = _values(column)
    epoch = _epoch(values)
    if epoch is None:
        series = column if isinstance(column, pd.Series) else pd.Series(values, copy=False)
        epoch = _epoch(pd.to_datetime(series, utc=True).array)
        assert epoch is not None, "pandas parses timestamps to a supported unit"
    ticks, per_second = epoch
    known = ticks != _NAT
    hours = ticks // (per_second * 3600)
    return hours % 24, (hours // 24 + _EPOCH_WEEKDAY) % 7, known


def _epoch(values: Any) -> tuple[np.ndarray, int] | None:
    """(int64 ticks since the epoch in UTC, ticks per second), or None where the input is not a time array."""
    if isinstance(values, pd.arrays.DatetimeArray):
        unit = str(values.unit)
        return (values.asi8, _TICKS_PER_SECOND[unit]) if unit in _TICKS_PER_SECOND else None
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        unit, count = np.datetime_data(values.dtype)
        return (values.view(np.int64), _TICKS_PER_SECOND[unit]) if count == 1 and unit in _TICKS_PER_SECOND else None
    return None


def _codes(column: Any, categories: tuple[str, ...], lookup: dict[str, int]) -> np.ndarray:
    """Positions of a categorical input's values in the spec's ``categories``; -1 for any other value."""
    values = _values(column)
    if isinstance(values, pd.Categorical):
        # Its own categories mapped once; each row's code follows from its own.
        mapped = np.array([lookup.get(c, -1) for c in values.categories] + [-1], dtype=np.int32)
        return mapped[values.codes]  # code -1 (missing) takes the last entry
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.dtype == object and len(values) <= _LOOKUP_ROWS:
        try:
            return np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int32, count=len(values))
        except TypeError:  # an unhashable value: let pandas say what is wrong
            pass
    series = column if isinstance(column, pd.Series) else pd.Series(values, copy=False)
    return np.asarray(pd.Categorical(series.astype(object), categories=list(categories)).codes, dtype=np.int32)
