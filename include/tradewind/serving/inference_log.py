"""The inference log: every scored record, appended as Parquet for the drift check and for audits.

Layout (any fsspec root: ``file://``, ``s3://``, ``gs://``)::

    {storage root}/inference/<dataset>/date=YYYY-MM-DD/part-<uuid>.parquet

``date`` is the UTC day the record was served. Each file is written whole in one atomic step
(:func:`tradewind.storage.atomic_write_bytes`: write beside then rename locally, one PUT on object
stores), so a reader never sees half a file; temporary files start with a dot, which Parquet
dataset readers skip. There is no manifest: a partition only grows, and every ``part-*.parquet``
in it is complete.

Columns: the request's known fields (the spec's columns except the label, typed as the spec says;
a field a request did not send is null) and :data:`LOG_COLUMNS`: ``score``, ``variant``,
``model_version``, ``request_id``, ``entity`` (the record's key column value, else the request's
routing key), ``shadow`` (the challenger's copy in shadow mode) and ``served_at`` (UTC). ``score`` is
the task's one number per record: the positive class's probability (binary), the predicted class's
probability (multiclass, whose log also has ``predicted_class`` after it, typed as the label), the
predicted value (regression). Columns the spec marks
``pii`` are hashed with a key or left out (:mod:`tradewind.data.pii`); when the key column is one,
``entity`` is hashed (or empty) too. How long the log is kept: the profile's ``retention.inference_log``.

The request path only calls :meth:`InferenceLogWriter.put`, which never waits: it appends to a
bounded in-memory queue (``queue_capacity`` records waiting to be written) or, when that is full,
drops the batch and reports it (``tradewind_inference_log_dropped_total``). A background thread
turns what is queued into Arrow columns every ``CONVERT_INTERVAL_S`` (so requests' objects do not
pile up for the garbage collector, and the work comes in small steps) and writes a file per day
every ``flush_interval_s`` or once ``flush_rows`` records wait. A store that fails is logged and
its records are counted as dropped; it never fails a request. :meth:`close` flushes what is left.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import io
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradewind.data.columns import ColumnBatch
from tradewind.data.pii import hash_values, pii_columns, pii_key, redact_table, redacted_schema
from tradewind.data.spec import ColumnRole, ColumnType, DatasetSpec, SpecError
from tradewind.data.target import predicted_classes
from tradewind.serving.config import InferenceLogConfig
from tradewind.storage import LakePath, as_path, atomic_write_bytes

log = logging.getLogger(__name__)

INFERENCE_ZONE: Final = "inference"
# How often the writer turns queued batches into Arrow columns (files are still written per flush).
CONVERT_INTERVAL_S: Final = 0.1
LOG_COLUMNS: Final = ("score", "variant", "model_version", "request_id", "entity", "shadow", "served_at")
# A multiclass data set's log also says which class was predicted (``score`` is that class's probability).
PREDICTED_CLASS: Final = "predicted_class"

_ARROW_TYPES: Final = {
    ColumnType.numeric: pa.float64(),
    ColumnType.integer: pa.int64(),
    ColumnType.boolean: pa.bool_(),
    ColumnType.categorical: pa.string(),
    ColumnType.string: pa.string(),
    ColumnType.timestamp: pa.timestamp("us", tz="UTC"),
}
_LOG_TYPES: Final = {
    "score": pa.float64(),
    "variant": pa.string(),
    "model_version": pa.string(),
    "request_id": pa.string(),
    "entity": pa.string(),
    "shadow": pa.bool_(),
    "served_at": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class ScoredBatch:
    """One request's scored records, as the request path hands them over (no copy, no conversion)."""

    features: pd.DataFrame | ColumnBatch
    scores: np.ndarray
    variant: str
    model_version: str
    request_id: str
    entity: str
    shadow: bool
    served_at: dt.datetime

    @property
    def rows(self) -> int:
        return len(self.scores)


def log_types(spec: DatasetSpec) -> dict[str, pa.DataType]:
    """The log's own columns of a data set and their types: :data:`LOG_COLUMNS`, and for a multiclass
    data set ``predicted_class`` (typed as its label) after ``score``."""
    if spec.task != "multiclass":
        return dict(_LOG_TYPES)
    score, *rest = _LOG_TYPES.items()
    return dict([score, (PREDICTED_CLASS, _ARROW_TYPES[spec.columns[spec.label].type]), *rest])


def _record_schema(spec: DatasetSpec) -> pa.Schema:
    """The columns of a scored record as served, before personal data is hashed or dropped."""
    own = log_types(spec)
    clash = [c for c in own if c in spec.columns and c != spec.label]
    if clash:
        raise SpecError(
            f"data set '{spec.name}': column(s) {', '.join(clash)} clash with the inference log's own columns "
            f"({', '.join(own)}): rename them in the spec, or serve with inference_log.enabled: false"
        )
    fields = [pa.field(n, _ARROW_TYPES[c.type]) for n, c in spec.columns.items() if n != spec.label]
    return pa.schema([*fields, *(pa.field(n, t) for n, t in own.items())])


def log_schema(spec: DatasetSpec) -> pa.Schema:
    """The Arrow schema of every inference-log file of a data set (``pii: hash`` columns are strings,
    ``pii: drop`` columns are left out: :mod:`tradewind.data.pii`)."""
    return redacted_schema(_record_schema(spec), spec)


def partition_path(root: str | LakePath, dataset: str, day: dt.date) -> Any:
    """The folder of one day of a data set's inference log."""
    return as_path(root) / INFERENCE_ZONE / dataset / f"date={day.isoformat()}"


@dataclass
class _Part:
    """One UTC day's converted records, waiting to be written."""

    tables: list[pa.Table] = dataclasses.field(default_factory=list)
    rows_by_variant: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    batches: int = 0
    rows: int = 0


class InferenceLogWriter:
    """A bounded queue of scored batches and the thread that writes them (see the module doc)."""

    def __init__(
        self,
        root: str | LakePath,
        spec: DatasetSpec,
        config: InferenceLogConfig,
        *,
        dataset: str | None = None,
        on_drop: Callable[[str, int], None] | None = None,
    ) -> None:
        self.root = as_path(root)
        self.spec = spec
        self.dataset = dataset or spec.name
        self.config = config
        self.schema = log_schema(spec)
        self._record_schema = _record_schema(spec)
        self._own = log_types(spec)
        self._key_column = next((n for n, c in spec.columns.items() if c.role == ColumnRole.key), None)
        self._pii = pii_columns(spec)
        # Resolved now: a spec that hashes a column and has no key fails at start, not per record.
        self._pii_key = pii_key(spec) if "hash" in self._pii.values() else None
        self._on_drop = on_drop or (lambda variant, rows: None)
        self._queue: collections.deque[ScoredBatch] = collections.deque()
        self._pending_rows = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._flush_requested = False
        self._enqueued = 0  # batches accepted so far
        self._done = 0  # batches written or given up on
        self._thread: threading.Thread | None = None
        self._parts: dict[dt.date, _Part] = {}  # converted, not yet written (writer thread only)
        self.files_written = 0
        self.rows_written = 0

    # -- request path ------------------------------------------------------------------------
    def put(self, batch: ScoredBatch) -> bool:
        """Queue a batch without waiting; ``False`` (and counted as dropped) when the queue is full."""
        with self._cond:
            accepted = not self._stopping and self._pending_rows + batch.rows <= self.config.queue_capacity
            if accepted:
                self._queue.append(batch)
                self._pending_rows += batch.rows
                self._enqueued += 1
                if self._pending_rows >= self.config.flush_rows:
                    self._cond.notify()
        if not accepted:
            self._on_drop(batch.variant, batch.rows)
        return accepted

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log-writer", daemon=True)
            self._thread.start()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write everything queued so far now; ``True`` once it is written (or given up on)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._enqueued
            self._flush_requested = True
            self._cond.notify_all()
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop accepting records, write what is queued, stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("Inference log: writer still busy after %.0fs at shutdown", timeout_s)
            self._thread = None
        leftover = self._take()  # never started, or timed out: count what could not be written
        for batch in leftover:
            self._on_drop(batch.variant, batch.rows)
        self._finish(len(leftover), sum(b.rows for b in leftover))

    # -- writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        write_at = time.monotonic() + self.config.flush_interval_s
        while True:
            with self._cond:
                convert_at = time.monotonic() + CONVERT_INTERVAL_S
                while not (self._stopping or self._flush_requested or self._pending_rows >= self.config.flush_rows):
                    left = min(write_at, convert_at) - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                stopping, flush = self._stopping, self._flush_requested
                self._flush_requested = False
                batches = self._take_locked()
            if batches:
                self._convert(batches)
            converted = sum(part.rows for part in self._parts.values())
            if stopping or flush or converted >= self.config.flush_rows or time.monotonic() >= write_at:
                self._write_parts()
                write_at = time.monotonic() + self.config.flush_interval_s
            if stopping:
                return

    def _take(self) -> list[ScoredBatch]:
        with self._cond:
            return self._take_locked()

    def _take_locked(self) -> list[ScoredBatch]:
        batches = list(self._queue)
        self._queue.clear()
        return batches

    def _finish(self, batches: int, rows: int) -> None:
        """``batches`` (``rows`` records) are written or given up on: room in the queue, news for flush()."""
        with self._cond:
            self._done += batches
            self._pending_rows -= rows
            self._cond.notify_all()

    def _convert(self, batches: list[ScoredBatch]) -> None:
        """Turn queued batches into Arrow tables per UTC day, to be written with the next file.

        Done every ``CONVERT_INTERVAL_S``: the request objects are released at once (a long queue of
        them would make each full garbage collection walk them all), and the work comes in small
        steps rather than one long hold of the interpreter at the flush."""
        by_day: dict[dt.date, list[ScoredBatch]] = collections.defaultdict(list)
        for batch in batches:
            by_day[batch.served_at.astimezone(dt.UTC).date()].append(batch)
        for day, group in by_day.items():
            rows = sum(b.rows for b in group)
            try:
                table = self._table(group)
            except Exception:
                log.exception("Inference log: could not convert %d record(s) of %s; dropped", rows, day)
                for batch in group:
                    self._on_drop(batch.variant, batch.rows)
                self._finish(len(group), rows)
                continue
            part = self._parts.setdefault(day, _Part())
            part.tables.append(table)
            part.batches += len(group)
            part.rows += rows
            for batch in group:
                part.rows_by_variant[batch.variant] += batch.rows

    def _write_parts(self) -> None:
        parts, self._parts = self._parts, {}
        for day, part in sorted(parts.items()):
            path = partition_path(self.root, self.dataset, day) / f"part-{uuid.uuid4().hex}.parquet"
            try:
                table = pa.concat_tables(part.tables) if len(part.tables) > 1 else part.tables[0]
                buffer = io.BytesIO()
                pq.write_table(table, buffer)  # snappy, pyarrow's default: cheap on the CPU the server needs
                atomic_write_bytes(path, buffer.getvalue())
            except Exception:
                log.exception("Inference log: could not write %d record(s) to %s; dropped", part.rows, path)
                for variant, rows in part.rows_by_variant.items():
                    self._on_drop(variant, rows)
            else:
                self.files_written += 1
                self.rows_written += table.num_rows
                log.debug("Inference log: wrote %d record(s) to %s", table.num_rows, path)
            self._finish(part.batches, part.rows)

    def _table(self, batches: list[ScoredBatch]) -> pa.Table:
        """One table for many batches: each column's arrays joined once, one Arrow conversion per column."""
        sizes = [b.rows for b in batches]
        n = sum(sizes)
        features = _joined_columns(batches)
        columns: dict[str, Any] = {}
        for field in self._record_schema:
            if field.name in features:
                values = pa.array(features[field.name], from_pandas=True)
                # Validated columns already have the spec's type; only units differ (ns -> us timestamps).
                columns[field.name] = values if values.type == field.type else values.cast(field.type, safe=False)
            elif field.name not in self._own:
                columns[field.name] = pa.nulls(n, type=field.type)
        # Per-request values are expanded to rows by index (Arrow's take), not by building Python lists.
        rows_of = pa.array(np.repeat(np.arange(len(batches)), sizes))

        def repeated(values: list[Any], kind: pa.DataType) -> pa.Array:
            return pc.take(pa.array(values, type=kind), rows_of)

        entity = repeated([b.entity for b in batches], pa.string())
        if self._key_column is not None and self._key_column in features:
            keys = pa.array(features[self._key_column], from_pandas=True).cast(pa.string())
            entity = pc.coalesce(keys, entity)
        columns.update(self._scores(np.concatenate([b.scores for b in batches])))
        columns["variant"] = repeated([b.variant for b in batches], pa.string())
        columns["model_version"] = repeated([b.model_version for b in batches], pa.string())
        columns["request_id"] = repeated([b.request_id for b in batches], pa.string())
        columns["entity"] = self._entity(entity)
        columns["shadow"] = repeated([b.shadow for b in batches], pa.bool_())
        columns["served_at"] = repeated([b.served_at for b in batches], pa.timestamp("us", tz="UTC"))
        table = pa.table(columns, schema=self._record_schema)
        return redact_table(table, self.spec, self._pii_key) if self._pii else table

    def _scores(self, scores: np.ndarray) -> dict[str, pa.Array]:
        """``score`` (and ``predicted_class``) of the scored records: the binary score, the regression
        value, or the multiclass predicted class and its probability."""
        if self.spec.task != "multiclass":
            return {"score": pa.array(scores, type=pa.float64())}
        chosen = scores.argmax(axis=1)
        return {
            "score": pa.array(scores[np.arange(len(scores)), chosen], type=pa.float64()),
            PREDICTED_CLASS: pa.array(predicted_classes(self.spec, scores), type=self._own[PREDICTED_CLASS]),
        }

    def _entity(self, entity: pa.Array) -> pa.Array:
        """The entity column: the key's value, hashed or left empty when the key is personal data."""
        how = self._pii.get(self._key_column or "")
        if how == "drop":
            return pa.nulls(len(entity), type=pa.string())
        if how == "hash" and self._pii_key is not None:
            return pa.array(hash_values(entity.to_pylist(), self._pii_key), type=pa.string())
        return entity


def _joined_columns(batches: list[ScoredBatch]) -> dict[str, Any]:
    """Every column any batch has, its batches' arrays joined (a batch without it gives nulls).

    Joining arrays is far cheaper than concatenating thousands of one-row frames."""
    tables = [_columns_of(b.features) for b in batches]
    names = dict.fromkeys(name for table in tables for name in table)
    joined = {}
    for name in names:
        parts = [table.get(name) for table in tables]
        if any(p is None for p in parts):
            parts = [
                np.full(b.rows, None, dtype=object) if p is None else p for p, b in zip(parts, batches, strict=True)
            ]
        joined[name] = _join(parts)
    return joined


def _columns_of(features: pd.DataFrame | ColumnBatch) -> Mapping[str, Any]:
    if isinstance(features, ColumnBatch):
        return features.columns
    return {name: _unwrapped(features[name].array) for name in features.columns}


def _unwrapped(values: Any) -> Any:
    return values.to_numpy() if isinstance(values, pd.arrays.NumpyExtensionArray) else values


def _join(parts: list[Any]) -> Any:
    """One array of ``parts``: numpy's or the extension type's own concatenation when they share a
    type, pandas' (which finds a common type) otherwise."""
    first = parts[0]
    if len(parts) == 1:
        return first
    kind = type(first)
    if all(type(p) is kind for p in parts):
        if kind is np.ndarray:
            return np.concatenate(parts)  # promotes mixed dtypes (e.g. int64 and object nulls) as pandas would
        dtype = first.dtype
        if isinstance(first, pd.api.extensions.ExtensionArray) and all(
            p.dtype is dtype or p.dtype == dtype for p in parts
        ):
            return kind._concat_same_type(parts)
    return pd.concat([pd.Series(p, copy=False) for p in parts], ignore_index=True)
