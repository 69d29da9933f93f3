"""Named ways to break a batch, for tests, the bad-input corpus and the demo's bad day.

Each corruption takes a clean frame of a data set and returns a broken copy; the validation
suite must catch every one of them. The names are imported by DAG files (the ingest form lists
them), so pandas and numpy are imported only when a corruption runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tradewind.data.spec import ColumnType, DatasetSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Corruption = Callable[["pd.DataFrame", DatasetSpec], "pd.DataFrame"]


def _first(spec: DatasetSpec, *types: ColumnType) -> str:
    cols = [c for c in spec.columns_of(*types) if c not in (spec.id, spec.label)]
    if not cols:
        raise ValueError(f"dataset {spec.name} has no column of type {', '.join(t.value for t in types)}")
    return cols[0]


def _rows(df: pd.DataFrame, share: float = 0.05) -> np.ndarray:
    import numpy as np

    step = max(1, round(1 / share))
    return np.arange(0, len(df), step)


def wrong_types(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    col = _first(spec, ColumnType.numeric)
    out = df.copy()
    out[col] = out[col].astype(str)
    out.loc[_rows(out), col] = "n/a"
    return out


def missing_column(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    return df.drop(columns=[_first(spec, ColumnType.numeric)])


def extra_column(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    out = df.copy()
    out["unexpected_field"] = 1
    return out


def null_required(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    col = _first(spec, ColumnType.categorical)
    out = df.copy()
    out[col] = out[col].astype(object)
    out.loc[_rows(out), col] = None
    return out


def negative_amounts(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    col = _first(spec, ColumnType.numeric)
    out = df.copy()
    idx = _rows(out, 0.02)
    out.loc[idx, col] = -out.loc[idx, col].abs() - 1.0
    return out


def unknown_category(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    col = _first(spec, ColumnType.categorical)
    out = df.copy()
    out[col] = out[col].astype(object)
    out.loc[_rows(out, 0.03), col] = "teleportation"
    return out


def duplicate_ids(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    out = df.copy()
    idx = _rows(out, 0.01)
    out.loc[idx, spec.id] = out[spec.id].iloc[0]
    return out


def wrong_date(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    import pandas as pd

    out = df.copy()
    out[spec.timestamp] = out[spec.timestamp] - pd.Timedelta(days=3)
    return out


def label_rate(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    out = df.copy()
    out.loc[_rows(out, 0.3), spec.label] = 1
    return out


def empty(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    return df.iloc[0:0].copy()


CORRUPTIONS: dict[str, Corruption] = {
    "wrong_types": wrong_types,
    "missing_column": missing_column,
    "extra_column": extra_column,
    "null_required": null_required,
    "negative_amounts": negative_amounts,
    "unknown_category": unknown_category,
    "duplicate_ids": duplicate_ids,
    "wrong_date": wrong_date,
    "label_rate": label_rate,
    "empty": empty,
}


def corrupt(df: pd.DataFrame, spec: DatasetSpec, names: Iterable[str]) -> pd.DataFrame:
    """Apply the named corruptions in order; an unknown name is an error listing the known ones."""
    for name in names:
        if name not in CORRUPTIONS:
            raise ValueError(f"unknown corruption '{name}' (known: {', '.join(sorted(CORRUPTIONS))})")
        df = CORRUPTIONS[name](df, spec)
    return df
