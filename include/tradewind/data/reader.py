"""Read a committed partition into a frame, or say exactly why it cannot be read."""

from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from tradewind.data.checks import (
    BatchProblem,
    TimeFacts,
    arrow_control_characters,
    clip,
    csv_control_characters,
    decode_binary,
    delimiter_mismatch,
    duplicate_columns,
    nested_columns,
    read_times,
    time_rule_problems,
)
from tradewind.data.spec import ColumnType, DatasetSpec
from tradewind.storage import Manifest


class UnreadableBatch(ValueError):
    """A landed file cannot be parsed in its declared format (the message names the file)."""

    def __init__(self, file: str, reason: str, column: str | None = None, sample: Any = None) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason
        self.column = column
        self.sample = sample  # the offending field (cut), apart from the reason so a report can hide it


class RefusedBatch(ValueError):
    """A batch's bytes or time values break a rule the suite cannot check (see :mod:`tradewind.data.checks`)."""

    def __init__(self, problems: list[BatchProblem]) -> None:
        super().__init__("; ".join(f"{p.check} on {p.column!r}: {p.detail} ({p.where})" for p in problems))
        self.problems = problems


def read_partition(spec: DatasetSpec, partition: UPath, manifest: Manifest) -> pd.DataFrame:
    """All files of a landed (raw) partition as one frame, columns as they arrived, times by the spec's rule.

    Raises :class:`UnreadableBatch` for a file that cannot be parsed and :class:`RefusedBatch` for
    bytes or time values that break a rule (every problem of every file, at once).
    """
    if not manifest.files:
        raise UnreadableBatch(str(partition), "the partition has no data files")
    frames, problems, times = [], [], []
    for f in manifest.files:
        frame, file_problems, file_times = _read_file(spec, partition / f.name, manifest.format, f.label())
        frames.append(frame)
        problems += file_problems
        times += file_times
    problems += time_rule_problems(spec.timestamps, times)
    if problems:
        raise RefusedBatch(problems)
    return _one_frame(frames)


def read_stored(partition: UPath, manifest: Manifest) -> pd.DataFrame:
    """A partition this project wrote (validated Parquet: UTC times, checked bytes) as one frame."""
    frames = []
    for f in manifest.files:
        with (partition / f.name).open("rb") as fh:
            frames.append(pq.read_table(fh).to_pandas())
    if not frames:
        raise UnreadableBatch(str(partition), "the partition has no data files")
    return _one_frame(frames)


def _one_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return normalise(frame)


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Give columns the in-memory form the suite checks, without changing any value.

    Zoned timestamps become UTC without a zone; categorical columns become plain string values
    (pointers to the same category objects, so this costs no copy of the strings).
    """
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
        elif isinstance(dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(object)
    # Columns replaced one by one leave the frame in many blocks; GX copies the whole frame for every
    # column check, and each copy would merge them again. Merge once (a copy consolidates).
    return frame.copy()


FileRead = tuple[pd.DataFrame, list[BatchProblem], list[TimeFacts]]


def _read_file(spec: DatasetSpec, path: UPath, fmt: str, file: str) -> FileRead:
    """One stored file; ``file`` names it in every problem (the name it was delivered as, when known)."""
    if fmt == "parquet":
        return _read_parquet(spec, path, file)
    with path.open("rb") as fh:
        data = fh.read()
    if not data:
        raise UnreadableBatch(file, "the file is empty (0 bytes)")
    opts = spec.source.files if spec.source.kind == "files" else None
    encoding = opts.encoding if opts else "utf-8"
    delimiter = opts.delimiter if opts else ","
    text = _decode(data, encoding, file, delimiter)
    header = _csv_header(text, delimiter)
    problems = (
        csv_control_characters(text, file, delimiter)
        + duplicate_columns(header, file)
        + delimiter_mismatch(header, list(spec.columns), delimiter, file)
    )
    if problems:
        return pd.DataFrame(), problems, []
    text_columns = {n: str for n in spec.columns_of(ColumnType.categorical, ColumnType.string)}
    try:
        # Only an empty field is missing ("NA" is a country, "null" a word); text columns stay text
        # ("007" is not 7); every float reads back to the same value it was written as.
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            keep_default_na=False,
            na_values=[""],
            dtype=text_columns,
            float_precision="round_trip",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise UnreadableBatch(file, f"not a readable CSV file ({clip(str(err))})") from None
    _parse_booleans(spec, frame)
    times, time_problems = read_times(frame, _time_columns(spec), spec.timestamps, file, "csv")
    return frame, time_problems, times


def _csv_header(text: str, delimiter: str) -> list[str]:
    """The names in a CSV text's header row (none when it does not parse: the CSV reader then says why)."""
    try:
        return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error:
        return []


def _decode(data: bytes, encoding: str, file: str, delimiter: str) -> str:
    """The file's text (a UTF-8 byte order mark dropped); an undecodable byte names its line and column."""
    if encoding.lower().replace("-", "").replace("_", "") == "utf8":
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line = data.count(b"\n", 0, err.start) + 1
        head = data.split(b"\n", 1)[0].decode(encoding, errors="replace").rstrip("\r").split(delimiter)
        index = data[line_start : err.start].count(delimiter.encode(encoding.removesuffix("-sig"), errors="replace"))
        name = head[index] if index < len(head) else None
        column = f", column '{name}'" if name else ""
        raise UnreadableBatch(
            file,
            f"not valid {encoding.removesuffix('-sig')} text: byte 0x{data[err.start]:02x} at offset {err.start} "
            f"(line {line}{column})",
            name,
            clip(repr(_field_at(data, err.start, delimiter.encode("ascii", errors="replace")))),
        ) from None


def _field_at(data: bytes, pos: int, delimiter: bytes) -> bytes:
    """The bytes of the CSV field around ``pos`` (its line's neighbours are other columns' values)."""
    start = max(data.rfind(delimiter, 0, pos), data.rfind(b"\n", 0, pos)) + 1
    ends = [i for i in (data.find(delimiter, pos), data.find(b"\n", pos)) if i >= 0]
    return data[start : min(ends) if ends else None].rstrip(b"\r")


def _read_parquet(spec: DatasetSpec, path: UPath, file: str) -> FileRead:
    # Read the table straight from the file: no second copy of the bytes in memory.
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            raise UnreadableBatch(file, "the file is empty (0 bytes)")
        fh.seek(0)
        try:
            duplicates = duplicate_columns(pq.ParquetFile(fh).schema_arrow.names, file)
            if duplicates:
                return pd.DataFrame(), duplicates, []
            fh.seek(0)
            table = pq.read_table(fh)
        except (pa.ArrowException, OSError) as err:
            raise UnreadableBatch(file, f"not a readable Parquet file ({clip(str(err))})") from None
    table, problems = decode_binary(table, spec.columns_of(ColumnType.categorical, ColumnType.string), file)
    problems += nested_columns(table, file) + arrow_control_characters(table, file)
    if problems:
        return pd.DataFrame(), problems, []
    frame = table.to_pandas()
    times, time_problems = read_times(frame, _time_columns(spec), spec.timestamps, file, "parquet")
    return frame, time_problems, times


def _time_columns(spec: DatasetSpec) -> list[str]:
    return spec.columns_of(ColumnType.timestamp)


def _parse_booleans(spec: DatasetSpec, frame: pd.DataFrame) -> None:
    """CSV has no booleans: a column whose every value is true or false (any case) becomes one.

    A column that does not parse is left as text, so the type expectation names it with samples.
    """
    for name in spec.columns_of(ColumnType.boolean):
        if name in frame and frame[name].dtype == object:
            lowered = frame[name].str.lower()
            if lowered.dropna().isin(["true", "false"]).all():
                frame[name] = lowered.map({"true": True, "false": False})
