"""Random corruptions of valid batches (property-based): never a crash, never a silent change.

Each example breaks a small valid day (a cell of a CSV file replaced by arbitrary text or bytes
inserted; a Parquet column given values of any type) and validates it. The outcome is either a
quarantine whose message is bounded and printable, or a pass whose stored values equal the source
file's, read by an independent reader (the csv module and Python's own number and time parsing; pyarrow).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from upath import UPath

from tests.unit.helpers import DAY, local, spec_dict, write_spec
from tradewind.data.checks import CONTROL
from tradewind.data.ingest import RAW, partition_path
from tradewind.data.spec import ColumnType, DatasetSpec, load_spec
from tradewind.data.synthetic import generate_day
from tradewind.storage import PartitionWriter, read_manifest
from tradewind.validation.runner import validate_partition

pytestmark = pytest.mark.unit

ROWS = 60
RUN = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TEXT_VALUES = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(
        [
            "",
            "NA",
            "0\x00",
            " 1",
            "+7",
            "1e3",
            "-5",
            "inf",
            "TRUE",
            "1.0",
            "9" * 30,
            "2026-01-05T10:00:00-0800",
            "2026-01-05T10:00:00Z",
            "2026-01-05 03:00",
            "2026-01-05",
            "grocery",
            "US",
        ]
    ),
)


def make_spec(tmp: Path, fmt: str) -> DatasetSpec:
    data = spec_dict()
    data["name"] = f"random_{fmt}"
    data["source"] = {"kind": "files", "options": {"uri": f"file://{tmp}/in/{{date}}/*.{fmt}", "format": fmt}}
    data["validation"]["row_count"] = {"min": 1, "max": 1000}
    data["validation"].pop("label_rate")
    return load_spec(write_spec(tmp / "specs", data))


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    frame = generate_day(DAY, rows_per_day=ROWS)
    for name in ("merchant_category", "country", "device"):
        frame[name] = frame[name].astype(object)
    return frame


def validate_bytes(spec: DatasetSpec, tmp: Path, data: bytes) -> Any:
    root = UPath(f"file://{tmp}/lake")
    writer = PartitionWriter(partition_path(root, RAW, spec.name, DAY), spec.source.files.format)
    with writer.open_part() as fh:
        fh.write(data)
    writer.commit(dataset=spec.name, partition_date=DAY.isoformat(), schema_version=1)
    return validate_partition(spec, root, DAY)


def stored_rows(outcome: Any) -> list[dict[str, Any]]:
    folder = local(outcome.validated_uri)
    manifest = read_manifest(UPath(str(folder)))
    return pq.read_table(folder / manifest.files[0].name).to_pylist()


def check(spec: DatasetSpec, outcome: Any, expected: Any) -> None:
    """A quarantine with a bounded, printable message, or stored values equal to the source's."""
    if not outcome.success:
        message = outcome.message()
        assert outcome.failures
        assert len(message) < 20_000
        assert CONTROL.search(message) is None
        return
    assert stored_rows(outcome) == expected(), "accepted with values that differ from the source file"


# -- the independent readers ---------------------------------------------------------------------------


def utc(value: dt.datetime, spec: DatasetSpec) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(spec.timestamps.naive_zone))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def from_text(spec: DatasetSpec, kind: ColumnType, text: str) -> Any:
    if kind == ColumnType.integer:
        return int(text)
    if kind == ColumnType.numeric:
        return float(text)
    if kind == ColumnType.boolean:
        return {"true": True, "false": False}[text.lower()]
    if kind == ColumnType.timestamp:
        return utc(dt.datetime.fromisoformat(text), spec)
    return text


def csv_rows(spec: DatasetSpec, data: bytes) -> list[dict[str, Any]]:
    # Blank lines hold no row (a CSV reader skips them).
    header, *rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if row]
    return [{k: from_text(spec, spec.columns[k].type, v) for k, v in zip(header, row, strict=True)} for row in rows]


def parquet_rows(spec: DatasetSpec, data: bytes) -> list[dict[str, Any]]:
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    for row in rows:
        row[spec.timestamp] = utc(row[spec.timestamp], spec)
    return rows


# -- the properties ------------------------------------------------------------------------------------


@RUN
@given(data=st.data())
def test_csv_cells_replaced_with_arbitrary_text(data, clean, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csv")
    spec = make_spec(tmp, "csv")
    frame = clean.astype(object).astype(str)
    frame["event_time"] = clean["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    for _ in range(data.draw(st.integers(1, 3))):
        row = data.draw(st.integers(0, len(frame) - 1))
        column = data.draw(st.sampled_from(list(frame.columns)))
        frame.at[row, column] = data.draw(TEXT_VALUES)
    buf = io.StringIO()
    frame.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
    source = buf.getvalue().encode("utf-8")
    outcome = validate_bytes(spec, tmp, source)
    check(spec, outcome, lambda: csv_rows(spec, source))


@RUN
@given(data=st.data())
def test_csv_bytes_inserted_or_cut(data, clean, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csvbytes")
    spec = make_spec(tmp, "csv")
    source = clean.to_csv(index=False).encode("utf-8")
    at = data.draw(st.integers(0, len(source)))
    if data.draw(st.booleans()):
        source = source[:at] + data.draw(st.binary(min_size=1, max_size=4)) + source[at:]
    else:
        source = source[:at]
    outcome = validate_bytes(spec, tmp, source)
    check(spec, outcome, lambda: csv_rows(spec, source))


VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec="utf-8"), max_size=8),
    st.booleans(),
    st.datetimes(
        min_value=dt.datetime(2026, 1, 4, 22),
        max_value=dt.datetime(2026, 1, 6, 2),
        timezones=st.sampled_from([None, dt.UTC, ZoneInfo("Asia/Tokyo")]),
    ),
    st.lists(st.integers(0, 9), max_size=2),
)


@RUN
@given(data=st.data())
def test_parquet_columns_given_values_of_any_type(data, clean, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parquet")
    spec = make_spec(tmp, "parquet")
    frame = clean.copy()
    column = data.draw(st.sampled_from(list(frame.columns)))
    rows = data.draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=len(frame), unique=True))
    value = data.draw(VALUES)
    values = frame[column].astype(object).tolist()
    for row in rows:
        values[row] = value
    try:
        frame[column] = pd.Series(values, dtype=object)
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        assume(False)  # pyarrow cannot write such a column: no file to validate
    source = buf.getvalue()
    outcome = validate_bytes(spec, tmp, source)
    check(spec, outcome, lambda: parquet_rows(spec, source))
