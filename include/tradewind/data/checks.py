"""Checks on a batch's bytes and time values that run before its suite (what GX cannot express).

* **Control characters** (NUL, the other C0 controls but tab and line breaks, DEL, the C1 controls)
  in any field of a CSV file or any text column of a Parquet file: a CSV reader stops a field at a
  NUL (``0\\x00garbage`` would be read as ``0``), so they are refused on the text itself.
* **Nested columns** (Parquet lists, structs, maps): one value per cell, or the batch is refused.
* **Duplicate column names** in a CSV header or a Parquet schema (a reader would rename one ``x.1``).
* **A wrong delimiter**: a CSV header read as one column that is the spec's columns joined by another
  common delimiter (``;``, tab, ``|``) is one problem, not every column reported missing.
* **Invalid UTF-8** in a Parquet binary column declared as text.
* **The time rule** of the spec (:class:`~tradewind.data.spec.TimestampRule`): naive values are local
  times of ``naive_zone``; zoned values are converted by their own offset; a column that mixes the
  two, or holds several offsets where the rule says ``one``, is refused naming the rows.

Every problem names its check, its column and where (file and CSV lines or Parquet rows), with at
most :data:`SAMPLE_SIZE` sample values cut to :data:`SAMPLE_CHARS` characters.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tradewind.data.spec import TimestampRule

SAMPLE_SIZE = 5
SAMPLE_CHARS = 200
# Where a problem lies: at most this many line or row numbers are listed.
MAX_PLACES = 10
# A CSV file full of control characters: the first this many are located (the count says "at least").
MAX_SCAN = 10_000

# Delimiters a CSV file is commonly written with (a header that splits on another one is a wrong setting).
DELIMITERS = (",", ";", "\t", "|")

# C0 controls but tab, line feed and carriage return; DEL; the C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_RE2 = r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}]"
# The offset at the end of an ISO 8601 date-time (after a time of day, so a date's "-05" is no offset).
OFFSET_RE2 = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class BatchProblem:
    """Something in a batch's bytes or time values that keeps it from being read as sent."""

    check: str
    column: str | None
    detail: str
    sample: list[Any] = field(default_factory=list)
    where: str = ""


def clip(value: Any, limit: int = SAMPLE_CHARS) -> Any:
    """A sample value with text cut to ``limit`` characters (bytes shown as their repr)."""
    if isinstance(value, bytes | bytearray):
        value = repr(bytes(value[: limit + 1]))
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}...(+{len(value) - limit} chars)"
    return value


def sanitize(text: str) -> str:
    """Text with its control characters written as escapes (``\\x00``), safe for a log line or a message."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def places(file: str, fmt: str, indexes: Sequence[int] | np.ndarray, total: int | None = None) -> str:
    """``batch.csv lines 3, 9`` / ``batch.parquet rows 1, 7``: where rows are (0-based frame indexes)."""
    unit, first = ("line", 2) if fmt == "csv" else ("row", 1)  # a CSV file's line 1 is its header
    total = len(indexes) if total is None else total
    shown = [str(int(i) + first) for i in indexes[:MAX_PLACES]]
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return f"{file} {unit}{'s' if total > 1 else ''} {', '.join(shown)}{more}"


# -- bytes ----------------------------------------------------------------------------------------------


def csv_control_characters(text: str, file: str, delimiter: str) -> list[BatchProblem]:
    """Fields of a CSV text holding control characters, per column, with the lines they are on."""
    if CONTROL.search(text) is None:
        return []
    header = next(csv.reader([text.split("\n", 1)[0].rstrip("\r")], delimiter=delimiter), [])
    found: dict[str | None, tuple[list[int], list[Any]]] = {}
    line, pos, last = 1, 0, 0
    for match in itertools.islice(CONTROL.finditer(text), MAX_SCAN):
        line += text.count("\n", pos, match.start())
        pos = match.start()
        if line == last:
            continue
        last = line
        start, end = text.rfind("\n", 0, pos) + 1, text.find("\n", pos)
        fields = next(csv.reader([text[start : end if end >= 0 else None]], delimiter=delimiter), [])
        for i, value in enumerate(fields):
            if CONTROL.search(value):
                column = header[i] if i < len(header) else None
                lines, sample = found.setdefault(column, ([], []))
                lines.append(line - 2)
                if len(sample) < SAMPLE_SIZE:
                    sample.append(clip(value))
    return [
        BatchProblem(
            "control_characters",
            column,
            f"{len(lines)} value(s) hold control characters (NUL, escape, ...)",
            sample,
            places(file, "csv", lines),
        )
        for column, (lines, sample) in found.items()
    ]


def _text_mask(column: pa.ChunkedArray) -> np.ndarray | None:
    """Per row: does the text value hold a control character (None: not a text column)."""
    masks = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type) and pa.types.is_string(chunk.type.value_type):
            hits = pc.match_substring_regex(chunk.dictionary, CONTROL_RE2)
            masks.append(pc.take(hits, chunk.indices) if pc.any(hits).as_py() else pa.nulls(len(chunk), pa.bool_()))
        elif pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
            masks.append(pc.match_substring_regex(chunk, CONTROL_RE2))
        else:
            return None
    if not masks:
        return np.zeros(0, dtype=bool)
    return np.concatenate([m.fill_null(False).to_numpy(zero_copy_only=False) for m in masks])


def arrow_control_characters(table: pa.Table, file: str) -> list[BatchProblem]:
    """Text columns of a Parquet table holding control characters."""
    out = []
    for name in table.column_names:
        mask = _text_mask(table.column(name))
        if mask is None or not mask.any():
            continue
        rows = np.flatnonzero(mask)
        sample = [clip(v) for v in table.column(name).take(pa.array(rows[:SAMPLE_SIZE])).to_pylist()]
        detail = f"{len(rows)} value(s) hold control characters (NUL, escape, ...)"
        out.append(BatchProblem("control_characters", name, detail, sample, places(file, "parquet", rows)))
    return out


def duplicate_columns(names: Sequence[str], file: str) -> list[BatchProblem]:
    """Column names a file's header holds more than once: refused (a reader would rename or drop one)."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        positions.setdefault(name, []).append(i + 1)
    return [
        BatchProblem(
            "unique_columns",
            clip(name),
            f"the header names this column {len(at)} times (positions {', '.join(map(str, at[:MAX_PLACES]))})",
            where=file,
        )
        for name, at in positions.items()
        if len(at) > 1
    ]


def delimiter_mismatch(header: Sequence[str], columns: Sequence[str], delimiter: str, file: str) -> list[BatchProblem]:
    """A CSV header read as one column that is the spec's columns joined by another delimiter: refused at once.

    Otherwise every column of the spec would be reported missing, one line each, for one wrong setting.
    """
    if len(header) != 1 or len(columns) < 2:
        return []
    for other in DELIMITERS:
        names = [n.strip().strip('"') for n in header[0].split(other)]
        if other != delimiter and len(set(names) & set(columns)) >= 2:
            detail = (
                f"1 column read with delimiter {delimiter!r}; the header looks {other!r}-separated "
                "(spec: source.files.delimiter)"
            )
            return [BatchProblem("delimiter", None, detail, where=file)]
    return []


def nested_columns(table: pa.Table, file: str) -> list[BatchProblem]:
    """Columns of list, struct or map values: refused (a cell holds one value)."""
    return [
        BatchProblem(
            "flat_columns",
            f.name,
            f"holds {f.type} values; nested (list, struct, map) columns are not supported: one value per cell",
            where=file,
        )
        for f in table.schema
        if pa.types.is_nested(f.type)
    ]


def decode_binary(table: pa.Table, text_columns: Sequence[str], file: str) -> tuple[pa.Table, list[BatchProblem]]:
    """Binary columns declared as text, decoded as UTF-8; a value that is not valid UTF-8 is refused."""
    problems = []
    for name in text_columns:
        if name not in table.column_names:
            continue
        column = table.column(name)
        if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            continue
        try:
            table = table.set_column(table.column_names.index(name), name, column.cast(pa.string()))
        except pa.ArrowInvalid:
            problems.append(_invalid_utf8(column.to_pylist(), name, file))
    return table, problems


def _invalid_utf8(values: list[bytes | None], name: str, file: str) -> BatchProblem:
    rows = []
    for i, value in enumerate(values):
        try:
            if value is not None:
                value.decode("utf-8")
        except UnicodeDecodeError:
            rows.append(i)
    sample = [clip(values[i]) for i in rows[:SAMPLE_SIZE]]
    return BatchProblem(
        "text_encoding", name, f"{len(rows)} value(s) are not valid UTF-8 text", sample, places(file, "parquet", rows)
    )


# -- time -----------------------------------------------------------------------------------------------


@dataclass
class TimeFacts:
    """How one timestamp column of one file was written: which rows were naive, which zoned, the offsets."""

    column: str
    file: str
    fmt: str
    naive: np.ndarray  # frame indexes of naive values
    zoned: np.ndarray  # frame indexes of values with an offset or zone
    offsets: dict[str, int]  # offset (or zone) -> the first frame index that has it
    samples: dict[str, Any] = field(default_factory=dict)  # "naive" / an offset -> one sample value


def _normal_offset(text: str) -> str:
    if text in ("Z", "z", "UTC", "+00", "+0000", "-00:00", "-0000", "-00"):
        return "+00:00"
    if re.fullmatch(r"[+-]\d{2}", text):
        return f"{text}:00"
    if re.fullmatch(r"[+-]\d{4}", text):
        return f"{text[:3]}:{text[3:]}"
    return text


def read_times(
    frame: pd.DataFrame, columns: Sequence[str], rule: TimestampRule, file: str, fmt: str
) -> tuple[list[TimeFacts], list[BatchProblem]]:
    """Parse and normalize the timestamp ``columns`` of one file by ``rule`` (in place); what was seen."""
    facts, problems = [], []
    for name in columns:
        if name not in frame:
            continue
        values = frame[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            facts.append(_zoned_column(values, name, file, fmt))
            continue
        if values.dtype.kind == "M":
            naive = np.flatnonzero(values.notna().to_numpy())
            facts.append(TimeFacts(name, file, fmt, naive, np.zeros(0, int), {}, _first(values, naive, "naive")))
            parsed, problem = to_utc(values, rule.naive_zone, name, file, fmt)
        elif values.dtype == object:
            text_facts = _text_times(values, name, file, fmt)
            if text_facts is None:
                continue  # not text: the suite's type check names it
            facts.append(text_facts)
            parsed, problem = _parse_text(values, text_facts, rule, file, fmt)
        else:
            continue
        problems += [problem] if problem else []
        if parsed is not None:
            frame[name] = parsed
    return facts, problems


def _first(values: pd.Series, indexes: np.ndarray, key: str) -> dict[str, Any]:
    return {key: clip(str(values.iloc[int(indexes[0])]))} if len(indexes) else {}


def _zoned_column(values: pd.Series, name: str, file: str, fmt: str) -> TimeFacts:
    zone = _normal_offset(str(values.dt.tz))
    rows = np.flatnonzero(values.notna().to_numpy())
    offsets = {zone: int(rows[0])} if len(rows) else {}
    return TimeFacts(name, file, fmt, np.zeros(0, int), rows, offsets, _first(values, rows, zone))


def _text_times(values: pd.Series, name: str, file: str, fmt: str) -> TimeFacts | None:
    try:
        array = pa.array(values, from_pandas=True, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    offset = pc.struct_field(pc.extract_regex(array, OFFSET_RE2), [0])
    has_value = array.is_valid().to_numpy(zero_copy_only=False)
    zoned_mask = offset.is_valid().to_numpy(zero_copy_only=False)
    zoned = np.flatnonzero(zoned_mask)
    naive = np.flatnonzero(has_value & ~zoned_mask)
    offsets: dict[str, int] = {}
    samples = _first(values, naive, "naive")
    if len(zoned):
        counts = pc.unique(offset.filter(offset.is_valid())).to_pylist()
        for raw in counts:
            first = int(pc.index(offset, raw).as_py())
            key = _normal_offset(raw)
            if key not in offsets or first < offsets[key]:
                offsets[key] = first
                samples[key] = clip(str(values.iloc[first]))
    return TimeFacts(name, file, fmt, naive, zoned, offsets, samples)


def _parse_text(
    values: pd.Series, facts: TimeFacts, rule: TimestampRule, file: str, fmt: str
) -> tuple[pd.Series | None, BatchProblem | None]:
    """Each value by its own kind: zoned ones by their offset, naive ones in the rule's zone."""
    try:
        if not len(facts.naive):
            return pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_localize(None), None
        if not len(facts.zoned):
            return to_utc(pd.to_datetime(values, format="ISO8601"), rule.naive_zone, facts.column, file, fmt)
        zoned = values.iloc[facts.zoned]
        naive, problem = to_utc(
            pd.to_datetime(values.iloc[facts.naive], format="ISO8601"), rule.naive_zone, facts.column, file, fmt
        )
        parts = [pd.to_datetime(zoned, utc=True, format="ISO8601").dt.tz_localize(None), naive]
        return pd.concat(parts).reindex(values.index), problem
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None, None  # left as text: the suite's type check names the values


def to_utc(
    values: pd.Series, zone: str, column: str, file: str, fmt: str
) -> tuple[pd.Series | None, BatchProblem | None]:
    """Naive local times of ``zone`` as naive UTC; times a daylight-saving change skips or repeats are refused."""
    if zone == "UTC":
        return values, None
    local = values.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    bad = np.flatnonzero((local.isna() & values.notna()).to_numpy())
    if len(bad):
        sample = [clip(str(v)) for v in values.iloc[bad[:SAMPLE_SIZE]]]
        detail = f"{len(bad)} naive value(s) do not exist or are ambiguous in {zone} (a daylight-saving change)"
        return None, BatchProblem("timestamp_rule", column, detail, sample, places(file, fmt, bad))
    return local.dt.tz_convert("UTC").dt.tz_localize(None), None


def time_rule_problems(rule: TimestampRule, facts: Sequence[TimeFacts]) -> list[BatchProblem]:
    """What the rule refuses, across all files of a partition: mixed naive and zoned values, extra offsets."""
    problems = []
    for column in dict.fromkeys(f.column for f in facts):
        mine = [f for f in facts if f.column == column]
        naive, zoned = sum(len(f.naive) for f in mine), sum(len(f.zoned) for f in mine)
        if naive and zoned and rule.mixed == "refuse":
            kind = "naive" if naive <= zoned else "zoned"
            where = "; ".join(places(f.file, f.fmt, getattr(f, kind)) for f in mine if len(getattr(f, kind)))
            detail = (
                f"mixes {naive} naive value(s) with {zoned} value(s) that carry an offset; the spec's time rule "
                f"(timestamps.mixed: refuse) does not say how to read them together; the {kind} ones are at"
            )
            problems.append(BatchProblem("timestamp_rule", column, detail, _samples(mine), where))
        offsets = sorted({o for f in mine for o in f.offsets})
        if offsets and rule.offsets == "none":
            detail = f"holds values with an offset ({', '.join(offsets)}) but the spec's time rule says offsets: none"
            problems.append(BatchProblem("timestamp_rule", column, detail, _samples(mine), _offset_places(mine)))
        elif len(offsets) > 1 and rule.offsets == "one":
            detail = f"holds {len(offsets)} offsets ({', '.join(offsets)}) but the spec's time rule says offsets: one"
            problems.append(BatchProblem("timestamp_rule", column, detail, _samples(mine), _offset_places(mine)))
    return problems


def _samples(facts: Sequence[TimeFacts]) -> list[Any]:
    """One value of each kind, labelled by its kind (``naive: ...``, ``offset -0800: ...``)."""
    labelled = (f"{k if k == 'naive' else f'offset {k}'}: {v}" for f in facts for k, v in f.samples.items())
    return list(dict.fromkeys(labelled))[:SAMPLE_SIZE]


def _offset_places(facts: Sequence[TimeFacts]) -> str:
    return "; ".join(f"{o} first at {places(f.file, f.fmt, [i])}" for f in facts for o, i in f.offsets.items())
