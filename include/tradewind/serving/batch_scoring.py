"""Batch scoring: every row of a validated partition through the model server's own scoring path.

A validated day is read in chunks of at most ``chunk_rows`` rows (Parquet row batches; no whole-day
frame and no whole-day feature matrix is ever built). Each chunk goes through what ``POST /predict``
does with a request: the model's feature builder (:mod:`tradewind.data.features`, the one feature
path) and ``predict_matrix``. The scores are streamed into one Parquet file of
``scores/<dataset>/date=D/`` and committed with a manifest (:class:`~tradewind.storage.PartitionWriter`):
readers see the previous committed scores of the day, or the new ones, never a part; a failure on the
way removes what was written.

Each row of the file holds the data set's id and key columns (``row``, its position in the partition,
when the spec has neither), the response columns of the model's task (:data:`RESPONSES`) and the
model's registered name and version. The manifest's ``extra`` is the lineage: the validated partition
and its content hashes, the model's name, version, run id and the alias it was chosen by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradewind.data.features import FeatureMatrix
from tradewind.data.ingest import lineage, parse_day, partition_path
from tradewind.data.reader import normalise
from tradewind.data.spec import ColumnRole, DatasetSpec
from tradewind.data.target import response_columns
from tradewind.storage import LakePath, Manifest, PartitionWriter, uri
from tradewind.training.model import TrainedModel

log = logging.getLogger(__name__)

SCORES: Final = "scores"
DEFAULT_CHUNK_ROWS: Final = 50_000
# The row's position in the validated partition: the id of a row when the spec names no id or key column.
ROW_COLUMN: Final = "row"
MODEL_COLUMNS: Final = ("model_name", "model_version")

# A task's response as columns: name -> one value per row of the chunk.
Response = Callable[[TrainedModel, FeatureMatrix], dict[str, np.ndarray]]


def _task_columns(model: TrainedModel, features: FeatureMatrix) -> dict[str, np.ndarray]:
    """The model's scores as its task's columns (:func:`tradewind.data.target.response_columns`), as the
    model server answers them: binary ``score`` (the positive class's probability); multiclass
    ``probability_<class>`` per class, in ``classes`` order, and ``predicted_class``; regression ``prediction``."""
    return response_columns(model.spec, model.predict_matrix(features))


# The response columns of each task the model server answers.
RESPONSES: dict[str, Response] = {"binary": _task_columns, "multiclass": _task_columns, "regression": _task_columns}


class UnsupportedTask(ValueError):
    """The model's task has no batch-scoring response yet (the message names it)."""


class MissingColumns(ValueError):
    """The validated rows lack columns the model's features need (the message names them)."""


@dataclass(frozen=True)
class ScoringModel:
    """A registered version in memory and where it came from."""

    name: str
    version: str
    run_id: str | None
    model: TrainedModel
    alias: str | None = None


def response_of(task: str) -> Response:
    """The response columns of ``task``; :class:`UnsupportedTask` when there is none yet."""
    if task not in RESPONSES:
        raise UnsupportedTask(
            f"task {task} has no batch-scoring response yet (supported: {', '.join(sorted(RESPONSES))})"
        )
    return RESPONSES[task]


def id_columns(spec: DatasetSpec) -> list[str]:
    """The columns that identify a row in the scores: the spec's id and key columns, in spec order."""
    return [name for name, column in spec.columns.items() if column.role in (ColumnRole.id, ColumnRole.key)]


def iter_chunks(partition: LakePath, manifest: Manifest, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of a validated partition, at most ``chunk_rows`` at a time, typed as ``read_stored`` types them."""
    for part in manifest.files:
        with (partition / part.name).open("rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=chunk_rows):
                yield normalise(batch.to_pandas())


def score_partition(
    scoring: ScoringModel,
    spec: DatasetSpec,
    root: str | LakePath,
    validated: tuple[LakePath, Manifest],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict[str, Any]:
    """Score the validated partition ``validated`` (its path and committed manifest) with ``scoring``;
    commit ``scores/<dataset>/date=D/`` and return its lineage (what the ``scores/<dataset>`` event carries).

    Raises :class:`UnsupportedTask` for a task without a response and :class:`MissingColumns` for rows the
    model cannot read. Any failure removes what was written and leaves the day's committed scores (if any)
    as they were.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows: must be at least 1, got {chunk_rows}")
    respond = response_of(scoring.model.spec.task)
    source, manifest = validated
    partition = partition_path(root, SCORES, spec.name, parse_day(manifest.partition_date))
    writer = PartitionWriter(partition, "parquet")
    try:
        rows = _write(writer, scoring, spec, respond, iter_chunks(source, manifest, chunk_rows), manifest.row_count)
        committed = writer.commit(
            dataset=spec.name,
            partition_date=manifest.partition_date,
            schema_version=spec.schema_version,
            extra=_lineage(scoring, source, manifest, chunk_rows),
        )
    except BaseException:
        writer.abort()
        raise
    log.info("Scored %d rows of %s %s with version %s", rows, spec.name, manifest.partition_date, scoring.version)
    return lineage(committed, partition)


def _write(
    writer: PartitionWriter,
    scoring: ScoringModel,
    spec: DatasetSpec,
    respond: Response,
    chunks: Iterator[pd.DataFrame],
    expected: int | None,
) -> int:
    """Score ``chunks`` into one Parquet file of ``writer``; the rows written."""
    ids = id_columns(spec)
    done = 0
    out: pq.ParquetWriter | None = None
    with writer.open_part() as fh:
        try:
            for chunk in chunks:
                table = pa.Table.from_pandas(_scored(chunk, done, ids, scoring, respond), preserve_index=False)
                if out is None:
                    out = pq.ParquetWriter(fh, table.schema, compression="zstd")
                out.write_table(table.cast(out.schema))
                done += len(chunk)
                log.info("  ... %d of %s rows scored", done, expected if expected is not None else "?")
        finally:
            if out is not None:
                out.close()
    writer.set_rows(done)
    return done


def _scored(chunk: pd.DataFrame, offset: int, ids: list[str], scoring: ScoringModel, respond: Response) -> pd.DataFrame:
    """One chunk's output rows: ids, the task's response columns, the model's name and version."""
    try:
        features = scoring.model.feature_matrix(chunk)
    except KeyError as err:
        raise MissingColumns(str(err.args[0] if err.args else err)) from None
    response = respond(scoring.model, features)
    for name, values in response.items():
        if values.shape[0] != len(chunk) or (values.dtype.kind == "f" and not np.isfinite(values).all()):
            raise ValueError(f"version {scoring.version} returned {values.shape} '{name}' values for {len(chunk)} rows")
    out = {name: chunk[name].to_numpy() for name in ids}
    if not ids:
        out[ROW_COLUMN] = np.arange(offset, offset + len(chunk), dtype=np.int64)
    out.update(response)
    out["model_name"] = np.full(len(chunk), scoring.name, dtype=object)
    out["model_version"] = np.full(len(chunk), scoring.version, dtype=object)
    return pd.DataFrame(out)


def _lineage(scoring: ScoringModel, source: LakePath, manifest: Manifest, chunk_rows: int) -> dict[str, Any]:
    return {
        "model_name": scoring.name,
        "model_version": scoring.version,
        "model_alias": scoring.alias,
        "model_run_id": scoring.run_id,
        "task": scoring.model.spec.task,
        "validated_uri": uri(source),
        "validated_content_hash": manifest.content_hash,
        "raw_content_hash": manifest.extra.get("raw_content_hash"),
        "validated_rows": manifest.row_count,
        "chunk_rows": chunk_rows,
    }
