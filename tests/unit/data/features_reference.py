"""The oracle of the feature tests: ``build_features`` as it was before the numpy builder, verbatim,
and the input frames (random and edge cases) the two are compared on.

Kept only here, as the reference the current code must match bit for bit; nothing in the product
imports it, so there is still one feature definition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from tradewind.data.columns import ColumnBatch
from tradewind.data.features import TIME_FEATURES, feature_set
from tradewind.data.spec import ColumnType, DatasetSpec
from tradewind.data.synthetic import generate_day


def reference_build_features(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """``tradewind.data.features.build_features`` at commit 8e776af (pandas throughout)."""
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


def as_frame(records: pd.DataFrame | ColumnBatch) -> pd.DataFrame:
    return records.to_frame() if isinstance(records, ColumnBatch) else records


# -- inputs ------------------------------------------------------------------------------------
def base_rows(rows: int = 400, day: dt.date = dt.date(2026, 1, 9)) -> pd.DataFrame:
    """Synthetic rows as the source makes them (categorical dtype, naive timestamps)."""
    return generate_day(day, rows_per_day=max(rows, 100)).head(rows).reset_index(drop=True)


def _columns_of(spec: DatasetSpec, *types: ColumnType) -> list[str]:
    return [n for n in spec.feature_columns if spec.columns[n].type in types]


def edge_cases(spec: DatasetSpec) -> Iterator[tuple[str, pd.DataFrame | ColumnBatch]]:
    """Named inputs covering the dtypes and values the feature path meets."""
    base = base_rows()
    ts = spec.timestamp
    numeric = _columns_of(spec, ColumnType.numeric, ColumnType.integer, ColumnType.boolean)
    categorical = _columns_of(spec, ColumnType.categorical)
    objects = base.copy()
    for name in categorical:
        objects[name] = objects[name].astype(object)
    yield "synthetic rows (categorical dtype, naive ns times)", base
    yield "normalised rows (object categoricals)", objects
    for row in (0, 1, 157, len(base) - 1):
        yield f"one row ({row})", base.iloc[[row]]
        yield f"one row as objects ({row})", objects.iloc[[row]]
    yield "no rows", base.iloc[:0]
    yield "two rows", objects.iloc[5:7]
    yield "shuffled index", base.sample(frac=1.0, random_state=3)
    yield "string index", objects.set_axis([f"r{i}" for i in range(len(objects))])
    yield "extra and reordered columns", objects.assign(extra="x")[[*list(reversed(objects.columns)), "extra"]]
    zoned = base[ts].dt.tz_localize("UTC")
    yield "UTC times", base.assign(**{ts: zoned})
    yield "Paris times", base.assign(**{ts: zoned.dt.tz_convert("Europe/Paris")})
    yield "Los Angeles times", base.assign(**{ts: zoned.dt.tz_convert("America/Los_Angeles")})
    yield "Kolkata times", base.assign(**{ts: zoned.dt.tz_convert("Asia/Kolkata")})
    for unit in ("s", "ms", "us"):
        yield f"times in {unit}", base.assign(**{ts: base[ts].astype(f"datetime64[{unit}]")})
    yield "ISO strings with Z", objects.assign(**{ts: base[ts].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    yield "ISO strings with offsets", objects.assign(**{ts: zoned.dt.tz_convert("Asia/Kolkata").map(_iso)})
    yield "naive ISO strings", objects.assign(**{ts: base[ts].dt.strftime("%Y-%m-%d %H:%M:%S")})
    yield "python datetimes", objects.assign(**{ts: pd.Series([t.to_pydatetime() for t in base[ts]], dtype=object)})
    nat = base.copy()
    nat.loc[[0, 3, 50], ts] = pd.NaT
    yield "missing times", nat
    yield "all times missing", base.head(3).assign(**{ts: pd.NaT})
    old = pd.Series(
        pd.to_datetime(["1901-03-04 23:30", "1969-12-31 23:59:59.999999", "1970-01-01", "1677-09-22"], format="ISO8601")
    )
    yield "times before 1970", base.head(4).assign(**{ts: old})
    late = pd.Series(
        pd.to_datetime(
            ["2200-01-04 05:59", "2262-04-11 23:00", "2038-01-19 03:14:08", "2000-02-29 12:00"], format="ISO8601"
        )
    )
    yield "late times", base.head(4).assign(**{ts: late})
    every_hour = pd.Series(pd.date_range("2026-01-03", periods=24 * 9, freq="h"))
    yield (
        "every hour of nine days",
        base.sample(len(every_hour), replace=True, random_state=1)
        .set_axis(range(len(every_hour)))
        .assign(**{ts: every_hour}),
    )
    weird = objects.head(12).copy()
    for name in categorical:
        known = spec.columns[name].categories or ("?",)
        weird[name] = pd.Series(
            [
                known[0],
                "unknown",
                None,
                np.nan,
                np.str_(known[-1]),
                "",
                known[0].upper(),
                7,
                1.5,
                b"x",
                pd.NA,
                known[1],
            ],
            dtype=object,
        )
    yield "odd categorical values", weird
    recoded = base.copy()
    for name in categorical:
        cats = list(spec.columns[name].categories or ())
        recoded[name] = recoded[name].cat.set_categories([*reversed(cats), "unseen"])
        recoded.loc[[1, 2], name] = "unseen"
        recoded.loc[[4], name] = np.nan
    yield "categorical dtype in another order, with an unseen category and missing values", recoded
    if numeric:
        yield from _numeric_cases(objects, numeric)
    yield (
        "a column batch of numpy arrays",
        ColumnBatch({c: objects[c].to_numpy() for c in objects.columns}, len(objects)),
    )
    yield "a column batch of pandas arrays", ColumnBatch({c: base[c].array for c in base.columns}, len(base))
    yield "a column batch of one row", ColumnBatch({c: objects[c].to_numpy()[:1] for c in objects.columns}, 1)


def _iso(value: pd.Timestamp) -> str:
    return value.isoformat()


def _numeric_cases(objects: pd.DataFrame, numeric: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    first = numeric[0]
    special = [np.nan, np.inf, -np.inf, 1e39, -1e39, 1e-45, -0.0, 2.0**53 + 1, 3.4028235e38, 16777217.0]
    rows = objects.head(len(special)).copy()
    yield "special floats", rows.assign(**{n: special for n in numeric})
    yield (
        "big integers",
        rows.assign(**{n: np.array([2**53 + 1, 2**62, -(2**63), 2**63 - 1] * 3)[: len(rows)] for n in numeric}),
    )
    yield (
        "object numbers and strings",
        rows.assign(**{first: pd.Series([1, 2.5, "3.25", "abc", None, True, np.nan, "1e3", "", 7], dtype=object)}),
    )
    for dtype in ("Int64", "Float64", "boolean", "float16", "int32", "uint8", "int8"):
        source = (
            [1, 0, None, 1, 0, 1, None, 0, 1, 1]
            if dtype in ("Int64", "Float64", "boolean")
            else [1, 0, 3, 1, 0, 1, 2, 0, 1, 1]
        )
        yield f"{dtype} columns", rows.assign(**{n: pd.array(source, dtype=dtype) for n in numeric})
    yield (
        "bools as objects with None",
        rows.assign(
            **{
                n: pd.Series([True, False, None, True, False, True, None, False, True, True], dtype=object)
                for n in numeric
            }
        ),
    )


# -- random inputs -----------------------------------------------------------------------------
_Gen = Callable[[np.random.Generator, int], Any]


def random_frame(spec: DatasetSpec, rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """Random rows in a random mix of the forms above: values in and out of range, nulls, unknowns."""
    data: dict[str, Any] = {}
    for name in [*spec.feature_columns, spec.timestamp]:
        col = spec.columns[name]
        if col.type == ColumnType.categorical:
            known = list(col.categories or ())
            pool = np.array([*known, *known, "unknown", None, ""], dtype=object)
            values = pool[rng.integers(0, len(pool), rows)]
            data[name] = pd.Categorical(values, categories=known) if rng.random() < 0.3 else values
        elif col.type == ColumnType.timestamp:
            ticks = rng.integers(-(2**61), 2**62, rows) if rng.random() < 0.3 else rng.integers(1.6e18, 1.9e18, rows)
            times = pd.to_datetime(ticks, unit="ns")
            if rng.random() < 0.2:
                times = times.where(rng.random(rows) > 0.1)
            choice = rng.integers(0, 4)
            data[name] = (
                times
                if choice == 0
                else times.tz_localize("UTC").tz_convert("Asia/Tokyo")
                if choice == 1
                else times.astype("datetime64[us]")
                if choice == 2
                else pd.Index(times.strftime("%Y-%m-%dT%H:%M:%S.%f")).where(~times.isna(), None)
            )
        else:
            data[name] = _random_numbers(col.type, rng, rows)
    return pd.DataFrame(data)


def _random_numbers(kind: ColumnType, rng: np.random.Generator, rows: int) -> Any:
    scale = 10.0 ** rng.integers(-3, 12)
    values = rng.normal(0, scale, rows)
    if kind == ColumnType.boolean:
        return rng.random(rows) < 0.5
    if kind == ColumnType.integer:
        values = np.round(values).astype(np.int64)
        return pd.Series(values, dtype="Int64").where(rng.random(rows) > 0.1).array if rng.random() < 0.3 else values
    if rng.random() < 0.3:
        values[rng.random(rows) < 0.1] = np.nan
    return values
