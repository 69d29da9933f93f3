"""Read a committed partition into a frame, or say exactly why it cannot be read."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from tradewind.data.spec import ColumnType, DatasetSpec
from tradewind.storage import Manifest


class UnreadableBatch(ValueError):
    """A landed file cannot be parsed in its declared format (the message names the file)."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


def read_partition(spec: DatasetSpec, partition: UPath, manifest: Manifest) -> pd.DataFrame:
    """All files of a committed partition as one frame, columns as they arrived."""
    if not manifest.files:
        raise UnreadableBatch(str(partition), "the partition has no data files")
    frames = [_read_file(spec, partition / f.name, manifest.format) for f in manifest.files]
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


def _read_file(spec: DatasetSpec, path: UPath, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        # Read the table straight from the file: no second copy of the bytes in memory.
        with path.open("rb") as fh:
            if fh.seek(0, 2) == 0:
                raise UnreadableBatch(path.name, "the file is empty (0 bytes)")
            fh.seek(0)
            try:
                return pq.read_table(fh).to_pandas()
            except (pa.ArrowException, OSError) as err:
                raise UnreadableBatch(path.name, f"not a readable Parquet file ({err})") from None
    with path.open("rb") as fh:
        data = fh.read()
    if not data:
        raise UnreadableBatch(path.name, "the file is empty (0 bytes)")
    opts = spec.source.files if spec.source.kind == "files" else None
    encoding = opts.encoding if opts else "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise UnreadableBatch(
            path.name, f"not valid {encoding} text: byte 0x{data[err.start]:02x} at offset {err.start}"
        ) from None
    try:
        frame = pd.read_csv(io.StringIO(text), sep=opts.delimiter if opts else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UnreadableBatch(path.name, f"not a readable CSV file ({err})") from None
    return _parse_csv_types(spec, frame)


def _parse_csv_types(spec: DatasetSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """CSV has no types: turn timestamp and boolean columns into theirs where every value parses.

    A column that does not parse is left as text, so the type expectation names it with samples.
    """
    for name, col in spec.columns.items():
        if name not in frame or frame[name].dtype != object:
            continue
        if col.type == ColumnType.timestamp:
            try:
                frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
            except (ValueError, TypeError):
                pass
        elif col.type == ColumnType.boolean:
            lowered = frame[name].str.lower()
            if lowered.dropna().isin(["true", "false"]).all():
                frame[name] = lowered.map({"true": True, "false": False})
    return frame
