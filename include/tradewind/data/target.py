"""The label as a training target: the one reading of a spec's label column every stage shares.

:func:`label_targets` turns the label of raw rows into what a trainer fits and a metric scores:

* ``binary``: 1 for the positive class (``spec.positive_label``), 0 for the other value; the label may
  hold text categories, booleans or 0/1 integers (``int64``);
* ``multiclass``: the class's position in ``spec.label_values`` (the ``classes`` order, which is the
  order of a model's class outputs; ``int64``);
* ``regression``: the value as a number (``float64``).

A value the spec does not declare (another category, a 2 in a 0/1 label, text in a numeric target, a
missing label) raises :class:`LabelError` naming the column, the values (each cut short, a few of
them) and the rows where they are.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from tradewind.data.checks import clip
from tradewind.data.spec import ColumnType, DatasetSpec, LabelValue

# How many distinct bad values and row numbers an error shows.
SHOWN: Final = 5


class LabelError(ValueError):
    """A label value the spec does not declare (the message names the column, the values and the rows)."""


def label_targets(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """The training target of every row of ``frame`` (see the module docstring); ``LabelError`` on a bad value."""
    if spec.label not in frame:
        raise LabelError(f"label column '{spec.label}' of data set '{spec.name}' is not in the rows")
    column = frame[spec.label]
    if spec.task == "regression":
        return _numbers(column, spec)
    values = spec.label_values
    assert values is not None  # a binary or multiclass task has its values
    return _class_indexes(column, values, spec)


def target_names(spec: DatasetSpec) -> list[str] | None:
    """The class names in target order (binary: negative, positive; multiclass: the classes); None for regression."""
    values = spec.label_values
    return None if values is None else [str(v) for v in values]


# The response of each task as named columns (batch scoring's and the MLflow pyfunc's output).
SCORE_COLUMN: Final = "score"  # binary: the positive class's probability
PREDICTED_CLASS_COLUMN: Final = "predicted_class"  # multiclass: the most probable class
PREDICTION_COLUMN: Final = "prediction"  # regression: the value
PROBABILITY_PREFIX: Final = "probability_"  # multiclass: one column per class


def probability_columns(spec: DatasetSpec) -> list[str]:
    """The column of each class's probability, in ``classes`` order: ``probability_<class>`` with every
    character outside ``A-Za-z0-9_`` made ``_``; names that would then collide end in ``_<position>``."""
    names = [PROBABILITY_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name) for name in target_names(spec) or []]
    counts = Counter(names)
    return [f"{name}_{i}" if counts[name] > 1 else name for i, name in enumerate(names)]


def predicted_classes(spec: DatasetSpec, probabilities: np.ndarray) -> np.ndarray:
    """The most probable class of each row of a rows x classes matrix, as the label's values (object array)."""
    values = np.empty(len(spec.label_values or ()), dtype=object)
    values[:] = list(spec.label_values or ())
    return values[probabilities.argmax(axis=1)]


def response_columns(spec: DatasetSpec, scores: np.ndarray) -> dict[str, np.ndarray]:
    """A model's scores (``TrainedModel.predict_matrix``) as its task's named columns: binary ``score``;
    multiclass one probability column per class (:func:`probability_columns`) and ``predicted_class``;
    regression ``prediction``."""
    if spec.task == "binary":
        return {SCORE_COLUMN: scores}
    if spec.task == "regression":
        return {PREDICTION_COLUMN: scores}
    names = probability_columns(spec)
    scores = scores.reshape(len(scores), len(names))  # no rows: predict_matrix gives a flat empty array
    columns = dict(zip(names, scores.T, strict=True))
    columns[PREDICTED_CLASS_COLUMN] = predicted_classes(spec, scores)
    return columns


def _class_indexes(column: pd.Series, values: Sequence[LabelValue], spec: DatasetSpec) -> np.ndarray:
    """Each row's position in ``values``; a value outside them is an error."""
    if spec.columns[spec.label].type == ColumnType.categorical:
        found = pd.Index(list(values), dtype=object).get_indexer(column.astype(object))
    else:  # 0/1 or class integers, booleans: compared as numbers (true is 1), so 1.0 or "1" read as 1
        found = pd.Index([float(v) for v in values], dtype="float64").get_indexer(_as_float(column))
    bad = np.flatnonzero(found < 0)
    if len(bad):
        raise LabelError(_describe(column, bad, f"outside {list(values)}", spec))
    return found.astype(np.int64)


def _numbers(column: pd.Series, spec: DatasetSpec) -> np.ndarray:
    """A regression target as float64; text, a missing value or an infinity is an error."""
    numbers = _as_float(column)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        raise LabelError(_describe(column, bad, "that are not finite numbers", spec))
    return numbers


def _as_float(column: pd.Series) -> np.ndarray:
    """A column as float64 numbers: NaN where missing or not a number (true is 1, "2" is 2)."""
    if column.dtype.kind in "biuf":  # numpy or nullable numbers and booleans: no conversion per value
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column.astype(object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _describe(column: pd.Series, bad: np.ndarray, what: str, spec: DatasetSpec) -> str:
    """``label 'churn' of data set 'x' has 3 of 1000 rows with values outside ...: 'Maybe' (rows 4, 9, 12)``."""
    shown: dict[str, list[int]] = {}
    more = False
    for row in bad[:10_000]:  # enough to show a few values and their rows, however many rows are bad
        key = _show(column.iloc[row])
        if key in shown or len(shown) < SHOWN:
            shown.setdefault(key, []).append(int(row))
        else:
            more = True
    parts = [f"{value} (row{'s' if len(rows) > 1 else ''} {_rows(rows)})" for value, rows in shown.items()]
    return (
        f"label '{spec.label}' of data set '{spec.name}' ({spec.task}) has {len(bad)} of {len(column)} rows "
        f"with values {what}: {', '.join(parts)}{', ...' if more else ''}"
    )


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "<missing>"
    return repr(clip(value, 40))


def _rows(rows: list[int]) -> str:
    head = ", ".join(str(r) for r in rows[:SHOWN])
    return head + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")
