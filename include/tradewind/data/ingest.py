"""Ingestion: land one day of a data set as a raw partition, atomically.

``raw/<dataset>/date=YYYY-MM-DD/`` holds the day as received:

* the synthetic source is generated in bounded chunks and streamed into one Parquet file;
* a ``files`` source (a user's own Parquet or CSV) is copied byte for byte, so a broken file is
  kept exactly as it arrived for validation to judge and quarantine. Nothing is parsed away.

The result is a lineage record (row count, content hash, schema version, partition URI) that the
Airflow layer attaches to the raw Asset event.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from tradewind.data import corruption, sources, synthetic
from tradewind.data.spec import DatasetSpec
from tradewind.storage import LakePath, Manifest, PartitionWriter, as_path, uri

log = logging.getLogger(__name__)

RAW, VALIDATED, QUARANTINE = "raw", "validated", "quarantine"


class IngestError(RuntimeError):
    """The source could not be landed (nothing was committed); a retry may find it (files not there yet)."""


class IngestRequestError(IngestError, ValueError):
    """The request itself is wrong (a source or knobs the data set's source kind does not take): no retry helps."""


def partition_path(root: str | LakePath, zone: str, dataset: str, day: dt.date) -> UPath:
    return as_path(root) / zone / dataset / f"date={day.isoformat()}"


def parse_day(value: str | dt.date | dt.datetime) -> dt.date:
    """A partition date from a ``YYYY-MM-DD`` string, a date or a datetime."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"date: '{value}' is not a YYYY-MM-DD date") from None


def lineage(manifest: Manifest, partition: UPath) -> dict[str, Any]:
    """The metadata every Asset event of a partition carries."""
    return {
        "dataset": manifest.dataset,
        "partition_date": manifest.partition_date,
        "partition_uri": uri(partition),
        "row_count": manifest.row_count,
        "content_hash": manifest.content_hash,
        "schema_version": manifest.schema_version,
        "format": manifest.format,
        **manifest.extra,
    }


def ingest_partition(
    spec: DatasetSpec,
    root: str | LakePath,
    day: str | dt.date,
    *,
    source_uri: str | None = None,
    drift: synthetic.DriftKnobs | None = None,
    corruptions: Sequence[str] = (),
    chunk_rows: int = synthetic.CHUNK_ROWS,
    allowed_roots: Sequence[str] | None = None,
    open_source: Callable[[str], Any] = as_path,
) -> dict[str, Any]:
    """Land ``day`` of ``spec``'s source under ``root``; return the partition's lineage record.

    A ``files`` source may only read under ``allowed_roots`` (default: the spec's source folder and
    the lake's landing folder, :func:`tradewind.data.sources.default_roots`); anything else raises
    :class:`~tradewind.data.sources.SourceRefused` before a byte is read. ``open_source`` turns the
    source URI into a path object (the Airflow layer binds it to the connection sources are read
    through)."""
    day = parse_day(day)
    partition = partition_path(root, RAW, spec.name, day)
    started = time.monotonic()
    if spec.source.kind == "synthetic":
        if source_uri:
            given = sources.sanitized(source_uri)
            raise IngestRequestError(f"dataset {spec.name}: source '{given}' given, but its source kind is synthetic")
        writer = PartitionWriter(partition, "parquet")
        frames = synthetic.iter_day(day, **spec.source.synthetic.model_dump(), drift=drift, chunk_rows=chunk_rows)
        if corruptions:
            frames = (corruption.corrupt(f, spec, corruptions) for f in frames)
        source = "synthetic"
        _write_parquet(writer, frames)
    else:
        if drift is not None or corruptions:
            raise IngestRequestError(
                f"dataset {spec.name}: drift and corruption knobs apply to the synthetic source only"
            )
        opts = spec.source.files
        source = (source_uri or opts.uri).replace("{date}", day.isoformat())
        roots = list(allowed_roots) if allowed_roots is not None else sources.default_roots(spec, root)
        sources.check_location(source, roots)
        base = open_source(source)
        matches = _list_files(base, source)
        sources.check_matches(base, matches, roots)
        writer = PartitionWriter(partition, opts.format)
        _copy_files(writer, base, matches, opts.format)
    extra = {"source": source, "knobs": _knobs(drift, corruptions)}
    manifest = writer.commit(
        dataset=spec.name, partition_date=day.isoformat(), schema_version=spec.schema_version, extra=extra
    )
    log.info(
        "Ingested %s %s: %s rows in %.1fs -> %s",
        spec.name,
        day,
        manifest.row_count,
        time.monotonic() - started,
        partition,
    )
    return lineage(manifest, partition)


def _knobs(drift: synthetic.DriftKnobs | None, corruptions: Sequence[str]) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    if drift is not None and drift.any:
        knobs["drift"] = {k: (str(v) if isinstance(v, dt.date) else v) for k, v in vars(drift).items()}
    if corruptions:
        knobs["corruptions"] = list(corruptions)
    return knobs


def _write_parquet(writer: PartitionWriter, frames: Iterable[Any]) -> None:
    rows = 0
    pq_writer: pq.ParquetWriter | None = None
    with writer.open_part() as fh:
        try:
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if pq_writer is None:
                    pq_writer = pq.ParquetWriter(fh, table.schema, compression="zstd")
                elif table.schema != pq_writer.schema:
                    table = table.cast(pq_writer.schema)
                pq_writer.write_table(table)
                rows += table.num_rows
                log.info("  ... %d rows written", rows)
        finally:
            if pq_writer is not None:
                pq_writer.close()
    writer.set_rows(rows)


def _list_files(base: UPath, pattern: str) -> list[str]:
    """The files a source URI names (a glob lists, a plain path is itself); nothing is opened."""
    matches = sorted(base.fs.glob(base.path)) if any(ch in pattern for ch in sources.GLOB_CHARS) else [base.path]
    found = [m for m in matches if base.fs.isfile(m)]
    if not found:
        raise IngestError(f"no source files match '{sources.sanitized(pattern)}'")
    return found


def _copy_files(writer: PartitionWriter, base: UPath, matches: list[str], fmt: str) -> None:
    folder = _source_folder(base.path)
    for match in matches:
        src = base.fs.open(match, "rb")
        with src, writer.open_part(source=_delivered_name(match, folder)) as fh:
            while block := src.read(8 << 20):
                fh.write(block)
        writer.set_rows(_count_rows(base, match, fmt))
        log.info("  copied %s as %s (%s rows)", match, writer.files[-1].name, writer.files[-1].rows)


def _source_folder(pattern: str) -> str:
    """The folder a source's files are named from (with its ``/``): a glob's folder, or a file's own."""
    if any(ch in pattern for ch in sources.GLOB_CHARS):
        folder = sources.static_dir(pattern)
    else:
        folder = pattern.rsplit("/", 1)[0] if "/" in pattern else ""
    return f"{folder.rstrip('/')}/" if folder else ""


def _delivered_name(match: str, folder: str) -> str:
    """What the user delivered a file as: its path under the source's folder (or its object key)."""
    return match.removeprefix(folder) if folder and match.startswith(folder) else match


def _count_rows(base: UPath, path: str, fmt: str) -> int | None:
    """Rows of a landed file when it can be read cheaply; ``None`` when it cannot (validation decides)."""
    try:
        with base.fs.open(path, "rb") as fh:
            if fmt == "parquet":
                return int(pq.ParquetFile(fh).metadata.num_rows)
            lines, last = 0, b"\n"
            for block in iter(lambda: fh.read(8 << 20), b""):
                lines += block.count(b"\n")
                last = block[-1:]
            if last != b"\n":  # a last line without a newline still counts
                lines += 1
            return max(lines - 1, 0)  # minus the header (quoted newlines make this an estimate)
    except Exception as err:  # a broken file is landed anyway and quarantined by validation
        # The error's type only: a reader's message may quote the file's bytes.
        log.warning("  %s cannot be read as %s (%s): validation will quarantine it", path, fmt, type(err).__name__)
        return None
