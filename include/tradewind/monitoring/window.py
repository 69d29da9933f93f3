"""The current window of the inference log: what a drift check compares with the reference.

The log lives under ``{root}/inference/<dataset>/date=YYYY-MM-DD/part-*.parquet``
(:mod:`tradewind.serving.inference_log`); any fsspec root works (``file://``, ``s3://``, ``gs://``,
or Airflow's ``ObjectStoragePath``). A window is a half-open time range ``[start, end)`` on
``served_at`` (UTC). Only the day folders the range touches are listed, and only the columns the
check needs are read, file by file in batches of :data:`BATCH_ROWS`.

Rows the challenger scored in shadow mode (``shadow == True``) are never part of a window, and a
``model_version`` keeps only the rows that version served. With ``max_rows``, the window is a
uniform sample without replacement of at most that many rows, drawn while reading (bottom-k over
seeded random keys), so memory stays bounded by about twice ``max_rows`` rows plus one batch,
whatever the window's size. :class:`Window` says how many rows were read, matched and kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradewind.data.pii import pii_columns
from tradewind.data.spec import DatasetSpec
from tradewind.data.target import PREDICTED_CLASS_COLUMN
from tradewind.monitoring.config import DriftConfig, drift_config
from tradewind.serving.inference_log import INFERENCE_ZONE, log_schema, partition_path
from tradewind.storage import LakePath, as_path, uri

log = logging.getLogger(__name__)

BATCH_ROWS: Final = 65_536
FILTER_COLUMNS: Final = ("served_at", "shadow", "model_version")


@dataclass(frozen=True)
class Window:
    """Rows of the inference log in ``[start, end)`` and how they were chosen."""

    frame: pd.DataFrame
    dataset: str
    start: dt.datetime
    end: dt.datetime
    rows_read: int  # rows in the files read (every row of the days the window touches)
    rows_seen: int  # rows in the window that pass the filters (time, not shadow, model version)
    rows_kept: int  # rows in ``frame`` (rows_seen, or max_rows when sampled)
    shadow_excluded: int
    other_versions_excluded: int
    files: int
    max_rows: int | None
    seed: int
    model_version: str | None = None
    source: str = ""
    reason: str | None = None  # why the window is empty, when it is
    columns_missing: tuple[str, ...] = field(default=())

    @property
    def sampled(self) -> bool:
        return self.rows_kept < self.rows_seen

    def info(self) -> dict[str, Any]:
        """JSON-ready description (recorded in the drift summary)."""
        return {
            "dataset": self.dataset,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "source": self.source,
            "model_version": self.model_version,
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_seen": self.rows_seen,
            "rows_kept": self.rows_kept,
            "shadow_excluded": self.shadow_excluded,
            "other_versions_excluded": self.other_versions_excluded,
            "sampled": self.sampled,
            "max_rows": self.max_rows,
            "seed": self.seed,
            "columns_missing": list(self.columns_missing),
            "reason": self.reason,
        }


def window_bounds(
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    hours: float | None = None,
    now: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC from explicit bounds, or the last ``hours`` before ``end`` (default: now).

    Naive datetimes are read as UTC."""
    if hours is not None:
        if start is not None:
            raise ValueError("give either start (with end) or hours, not both")
        if hours <= 0:
            raise ValueError(f"hours must be positive, got {hours}")
        end = _utc(end or now or dt.datetime.now(dt.UTC))
        return end - dt.timedelta(hours=hours), end
    if start is None or end is None:
        raise ValueError("a window needs start and end, or hours")
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"window end {end.isoformat()} is not after its start {start.isoformat()}")
    return start, end


def default_columns(spec: DatasetSpec, config: DriftConfig | None = None) -> list[str]:
    """What a drift and performance check reads: the id, the event time, the feature columns, the score
    (prediction drift and the performance check, which runs whether or not prediction drift is on) and
    ``served_at`` (the performance check keeps an id's latest scoring)."""
    config = config or drift_config(spec)
    personal = pii_columns(spec)  # not compared: hashed or not logged at all (tradewind.data.pii)
    features = [c for c in spec.feature_columns if c not in personal]
    cols = [spec.id, *([spec.timestamp] if spec.timestamp else []), *features]
    cols += [*prediction_columns(spec, config), "served_at"]
    return list(dict.fromkeys(cols))


def prediction_columns(spec: DatasetSpec, config: DriftConfig | None = None) -> list[str]:
    """The inference log's columns of the model's output: ``score``, and a multiclass model's
    ``predicted_class``."""
    config = config or drift_config(spec)
    return [config.prediction.column, *([PREDICTED_CLASS_COLUMN] if spec.task == "multiclass" else [])]


def read_window(
    root: str | LakePath,
    spec: DatasetSpec,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    hours: float | None = None,
    now: dt.datetime | None = None,
    model_version: str | None = None,
    columns: Sequence[str] | None = None,
    max_rows: int | None = -1,
    seed: int | None = None,
    dataset: str | None = None,
    config: DriftConfig | None = None,
) -> Window:
    """Read a window of ``spec``'s inference log under ``root`` (see the module doc).

    ``columns``: what to return (default :func:`default_columns`); a column no file has comes back
    as nulls and is listed in ``columns_missing``. ``max_rows``: the sampling bound (default: the
    spec's ``drift.max_rows``; ``None``: keep every row). ``seed``: the sampling seed (default the
    spec's ``drift.seed``); the same files and seed give the same rows.
    """
    config = config or drift_config(spec)
    start, end = window_bounds(start, end, hours, now)
    if max_rows == -1:
        max_rows = config.max_rows
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be positive or None, got {max_rows}")
    seed = config.seed if seed is None else seed
    dataset = dataset or spec.name
    wanted = list(dict.fromkeys(columns if columns is not None else default_columns(spec, config)))
    schema = log_schema(spec)
    unknown = [c for c in wanted if c not in schema.names]
    if unknown:
        raise ValueError(f"{dataset}: the inference log has no column(s) {', '.join(unknown)}")
    target = pa.schema([schema.field(c) for c in wanted])
    base = as_path(root) / INFERENCE_ZONE / dataset

    sampler = _BottomK(max_rows, seed)
    stats = {"rows_read": 0, "rows_seen": 0, "shadow": 0, "versions": 0, "files": 0}
    present: set[str] = set()
    for path in _files(root, dataset, start, end):
        stats["files"] += 1
        for table, names in _batches(path, [*wanted, *FILTER_COLUMNS]):
            present.update(names)
            stats["rows_read"] += table.num_rows
            kept = _filter(table, start, end, model_version, stats)
            if kept.num_rows:
                sampler.add(_conform(kept, target))
    table = sampler.result(target)
    stats["rows_seen"] = sampler.seen
    reason = None
    if table.num_rows == 0:
        where = uri(base)
        reason = (
            f"no inference log for {dataset} between {start.isoformat()} and {end.isoformat()} ({where})"
            if stats["files"] == 0
            else f"no rows in the window among {stats['rows_read']} row(s) of {stats['files']} file(s) read "
            f"({stats['shadow']} shadow, {stats['versions']} of other model versions excluded)"
        )
    window = Window(
        frame=table.to_pandas(),
        dataset=dataset,
        start=start,
        end=end,
        rows_read=stats["rows_read"],
        rows_seen=stats["rows_seen"],
        rows_kept=table.num_rows,
        shadow_excluded=stats["shadow"],
        other_versions_excluded=stats["versions"],
        files=stats["files"],
        max_rows=max_rows,
        seed=seed,
        model_version=model_version,
        source=uri(base),
        reason=reason,
        columns_missing=tuple(c for c in wanted if c not in present) if stats["files"] else (),
    )
    log.info(
        "Inference log window %s .. %s of %s: %d file(s), %d row(s) read, %d in the window, %d kept%s",
        start.isoformat(),
        end.isoformat(),
        dataset,
        window.files,
        window.rows_read,
        window.rows_seen,
        window.rows_kept,
        f" (sampled, seed {seed})" if window.sampled else "",
    )
    return window


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _files(root: str | LakePath, dataset: str, start: dt.datetime, end: dt.datetime) -> Iterator[Any]:
    """The complete log files of the days ``[start, end)`` touches, in a stable order."""
    day, last = start.date(), (end - dt.timedelta(microseconds=1)).date()
    while day <= last:
        folder = partition_path(root, dataset, day)
        if folder.exists():
            # Temporary files start with a dot; every part-*.parquet is complete (written in one step).
            yield from sorted(
                (p for p in folder.iterdir() if p.name.startswith("part-") and p.name.endswith(".parquet")),
                key=lambda p: p.name,
            )
        day += dt.timedelta(days=1)


def _batches(path: Any, columns: list[str]) -> Iterator[tuple[pa.Table, list[str]]]:
    with path.open("rb") as fh:
        parquet = pq.ParquetFile(fh)
        names = [c for c in dict.fromkeys(columns) if c in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=names):
            yield pa.Table.from_batches([batch]), names


def _filter(
    table: pa.Table, start: dt.datetime, end: dt.datetime, model_version: str | None, stats: dict[str, int]
) -> pa.Table:
    if "served_at" not in table.column_names:
        return table.slice(0, 0)
    served = table["served_at"]
    kind = served.type
    lo, hi = pa.scalar(start, type=kind), pa.scalar(end, type=kind)
    mask = pc.and_(pc.greater_equal(served, lo), pc.less(served, hi))
    mask = pc.fill_null(mask, False)
    if "shadow" in table.column_names:
        shadow = pc.fill_null(table["shadow"], False)
        stats["shadow"] += int(pc.sum(pc.and_(mask, shadow)).as_py() or 0)
        mask = pc.and_(mask, pc.invert(shadow))
    if model_version is not None:
        if "model_version" in table.column_names:
            same = pc.fill_null(pc.equal(table["model_version"], pa.scalar(model_version)), False)
        else:
            same = pa.array(np.zeros(table.num_rows, dtype=bool))
        stats["versions"] += int(pc.sum(pc.and_(mask, pc.invert(same))).as_py() or 0)
        mask = pc.and_(mask, same)
    return table.filter(mask)


def _conform(table: pa.Table, target: pa.Schema) -> pa.Table:
    """``table`` with exactly ``target``'s columns and types (nulls for a column a file lacks)."""
    arrays = []
    for f in target:
        if f.name in table.column_names:
            col = table[f.name]
            arrays.append(col if col.type == f.type else col.cast(f.type, safe=False))
        else:
            arrays.append(pa.nulls(table.num_rows, type=f.type))
    return pa.Table.from_arrays(arrays, schema=target)


class _BottomK:
    """A uniform sample without replacement of at most ``k`` rows from a stream of tables.

    Every row gets a seeded random key; the ``k`` rows with the smallest keys are the sample. Tables
    are compacted whenever more than ``2k`` rows are held, so memory stays near ``2k`` rows. The
    sample keeps the stream's order. ``k=None`` keeps every row."""

    def __init__(self, k: int | None, seed: int) -> None:
        self.k = k
        self.rng = np.random.default_rng(seed)
        self.tables: list[pa.Table] = []
        self.keys: list[np.ndarray] = []
        self.held = 0
        self.seen = 0

    def add(self, table: pa.Table) -> None:
        self.seen += table.num_rows
        self.tables.append(table)
        self.keys.append(self.rng.random(table.num_rows))
        self.held += table.num_rows
        if self.k is not None and self.held > 2 * self.k:
            self._compact()

    def _compact(self) -> None:
        assert self.k is not None
        table = pa.concat_tables(self.tables)
        keys = np.concatenate(self.keys)
        if table.num_rows > self.k:
            keep = np.sort(np.argpartition(keys, self.k - 1)[: self.k])
            table, keys = table.take(pa.array(keep)), keys[keep]
        self.tables, self.keys, self.held = [table], [keys], table.num_rows

    def result(self, schema: pa.Schema) -> pa.Table:
        if not self.tables:
            return schema.empty_table()
        if self.k is not None:
            self._compact()
        return pa.concat_tables(self.tables).combine_chunks()
