"""Checks before the suite: one rule for time, no control bytes, flat Parquet columns, valid UTF-8."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from tests.unit.helpers import spec_dict, write_spec
from tradewind.config import ConfigError
from tradewind.data.checks import SAMPLE_CHARS, clip, read_times, sanitize, time_rule_problems
from tradewind.data.ingest import RAW, partition_path
from tradewind.data.reader import RefusedBatch, UnreadableBatch, read_partition
from tradewind.data.spec import DatasetSpec, TimestampRule, load_spec
from tradewind.storage import PartitionWriter

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 1, 5)


def make_spec(tmp_path: Path, fmt: str, timestamps: dict | None = None) -> DatasetSpec:
    data = spec_dict()
    data["name"] = f"checks_{fmt}"
    data["source"] = {"kind": "files", "options": {"uri": f"file://{tmp_path}/in/{{date}}/*.{fmt}", "format": fmt}}
    if timestamps is not None:
        data["timestamps"] = timestamps
    return load_spec(write_spec(tmp_path / "specs", data))


def land(spec: DatasetSpec, root: UPath, files: dict[str, bytes]) -> tuple[UPath, object]:
    """A committed raw partition holding ``files`` byte for byte."""
    partition = partition_path(root, RAW, spec.name, DAY)
    writer = PartitionWriter(partition, spec.source.files.format)
    for data in files.values():
        with writer.open_part() as fh:
            fh.write(data)
    manifest = writer.commit(dataset=spec.name, partition_date=DAY.isoformat(), schema_version=1)
    return partition, manifest


def read(tmp_path: Path, fmt: str, files: dict[str, bytes], timestamps: dict | None = None) -> pd.DataFrame:
    spec = make_spec(tmp_path, fmt, timestamps)
    partition, manifest = land(spec, UPath(f"file://{tmp_path}/lake"), files)
    return read_partition(spec, partition, manifest)


def refused(tmp_path: Path, fmt: str, files: dict[str, bytes], timestamps: dict | None = None) -> RefusedBatch:
    with pytest.raises(RefusedBatch) as err:
        read(tmp_path, fmt, files, timestamps)
    return err.value


def times_csv(values: list[str]) -> bytes:
    rows = "".join(f"{i},{v}\n" for i, v in enumerate(values))
    return f"transaction_id,event_time\n{rows}".encode()


def parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


# -- one rule for time --------------------------------------------------------------------------------


def test_naive_values_mixed_with_offsets_are_refused_naming_the_rows(tmp_path):
    values = ["2026-01-05T10:00:00"] * 5 + ["2026-01-05T02:00:00-0800"] * 3
    err = refused(tmp_path, "csv", {"a.csv": times_csv(values)})
    (problem,) = err.problems
    assert (problem.check, problem.column) == ("timestamp_rule", "event_time")
    assert "mixes 5 naive value(s) with 3 value(s) that carry an offset" in problem.detail
    # the minority (zoned) rows, as CSV lines (line 1 is the header)
    assert problem.where.endswith("lines 7, 8, 9")
    # one value of each kind, each labelled by its kind
    assert problem.sample == ["naive: 2026-01-05T10:00:00", "offset -08:00: 2026-01-05T02:00:00-0800"]


def test_naive_in_one_file_zoned_in_another_is_mixed_too(tmp_path):
    zoned = pd.DataFrame({"event_time": pd.to_datetime(["2026-01-05T10:00:00Z"] * 2)})
    naive = pd.DataFrame({"event_time": pd.to_datetime(["2026-01-05T10:00:00"] * 3)})
    err = refused(tmp_path, "parquet", {"a.parquet": parquet(zoned), "b.parquet": parquet(naive)})
    assert [p.check for p in err.problems] == ["timestamp_rule"]
    assert "rows 1, 2" in err.problems[0].where


def test_any_offsets_are_each_converted_by_their_own(tmp_path):
    values = ["2026-01-05T10:00:00-08:00", "2026-01-05T10:00:00+0100", "2026-01-05 10:00:00Z", "2026-01-05T10:00+05"]
    frame = read(tmp_path, "csv", {"a.csv": times_csv(values)})
    assert list(frame["event_time"].astype(str)) == [
        "2026-01-05 18:00:00",
        "2026-01-05 09:00:00",
        "2026-01-05 10:00:00",
        "2026-01-05 05:00:00",
    ]


@pytest.mark.parametrize("offsets", ["one", "none"])
def test_offsets_the_rule_does_not_allow_are_refused(tmp_path, offsets):
    values = ["2026-01-05T10:00:00+01:00", "2026-01-05T10:00:00+0100", "2026-01-05T10:00:00+02:00"]
    err = refused(tmp_path, "csv", {"a.csv": times_csv(values)}, {"offsets": offsets})
    (problem,) = err.problems
    assert f"offsets: {offsets}" in problem.detail
    assert "+01:00" in problem.detail
    assert "+02:00 first at a" not in problem.where  # files are named by their stored part name
    assert "+02:00 first at" in problem.where
    assert "line 4" in problem.where


def test_one_offset_written_two_ways_is_one_offset(tmp_path):
    values = ["2026-01-05T10:00:00+01:00", "2026-01-05T11:00:00+0100", "2026-01-05T12:00:00+01"]
    frame = read(tmp_path, "csv", {"a.csv": times_csv(values)}, {"offsets": "one"})
    assert list(frame["event_time"].dt.hour) == [9, 10, 11]


def test_naive_values_are_read_in_the_spec_zone(tmp_path):
    frame = read(tmp_path, "csv", {"a.csv": times_csv(["2026-01-05T10:00:00"])}, {"naive_zone": "America/New_York"})
    assert str(frame["event_time"].iloc[0]) == "2026-01-05 15:00:00"
    naive = pd.DataFrame({"event_time": pd.to_datetime(["2026-07-05T10:00:00"])})
    frame = read(tmp_path / "p", "parquet", {"a.parquet": parquet(naive)}, {"naive_zone": "Europe/Berlin"})
    assert str(frame["event_time"].iloc[0]) == "2026-07-05 08:00:00"


def test_a_local_time_a_daylight_saving_change_skips_is_refused():
    frame = pd.DataFrame({"t": pd.to_datetime(["2026-03-29 01:30:00", "2026-03-29 02:30:00"])})
    rule = TimestampRule(naive_zone="Europe/Berlin")
    facts, problems = read_times(frame, ["t"], rule, "a.parquet", "parquet")
    (problem,) = problems
    assert "do not exist or are ambiguous in Europe/Berlin" in problem.detail
    assert problem.where == "a.parquet row 2"
    assert time_rule_problems(rule, facts) == []


def test_mixed_values_are_read_one_by_one_when_the_rule_allows(tmp_path):
    values = ["2026-01-05T10:00:00", "2026-01-05T10:00:00-08:00"]
    frame = read(tmp_path, "csv", {"a.csv": times_csv(values)}, {"mixed": "allow"})
    assert list(frame["event_time"].dt.hour) == [10, 18]


def test_a_bad_zone_name_is_a_spec_error(tmp_path):
    with pytest.raises(ConfigError, match=r"timestamps.naive_zone.*'Mars/Olympus' is not a time zone name"):
        make_spec(tmp_path, "csv", {"naive_zone": "Mars/Olympus"})


def test_the_default_rule_keeps_the_spec_fingerprint(tmp_path):
    plain = make_spec(tmp_path, "csv")
    assert make_spec(tmp_path, "csv", {"naive_zone": "UTC"}).fingerprint == plain.fingerprint
    assert make_spec(tmp_path, "csv", {"offsets": "one"}).fingerprint != plain.fingerprint


# -- bytes that do not belong -------------------------------------------------------------------------


def test_a_nul_in_a_csv_label_is_refused_not_read_as_zero(tmp_path):
    text = "transaction_id,is_fraud\n1,0\n2,0\x00\x00garbage\x00\n3,1\n"
    err = refused(tmp_path, "csv", {"a.csv": text.encode()})
    (problem,) = err.problems
    assert (problem.check, problem.column) == ("control_characters", "is_fraud")
    assert problem.sample == ["0\x00\x00garbage\x00"]
    assert problem.where.endswith("line 3")
    assert "\\x00" in sanitize(str(problem.sample))
    assert "\x00" not in sanitize(str(problem.sample))


def test_control_characters_in_parquet_text_are_refused_in_dictionary_columns_too(tmp_path):
    device = pd.Categorical(["mobile", "atm\x1b[31m", "mobile"])
    frame = pd.DataFrame({"device": device, "country": ["US", "G\x85B", "DE"]})
    err = refused(tmp_path, "parquet", {"a.parquet": parquet(frame)})
    assert {(p.column, p.where.split()[-1]) for p in err.problems} == {("device", "2"), ("country", "2")}


def test_a_list_column_is_refused_by_name(tmp_path):
    frame = pd.DataFrame({"amount": [[1.0, 2.0], [3.0]], "device": ["atm", "mobile"]})
    err = refused(tmp_path, "parquet", {"a.parquet": parquet(frame)})
    (problem,) = err.problems
    assert (problem.check, problem.column) == ("flat_columns", "amount")
    assert "list<element: double>" in problem.detail


def test_binary_text_is_decoded_and_invalid_utf8_refused(tmp_path):
    good = pa.table({"device": pa.array([b"atm", b"mobile"], pa.binary())})
    buf = io.BytesIO()
    pq.write_table(good, buf)
    assert list(read(tmp_path, "parquet", {"a.parquet": buf.getvalue()})["device"]) == ["atm", "mobile"]
    bad = pa.table({"device": pa.array([b"atm", b"mob\xffile"], pa.binary())})
    buf = io.BytesIO()
    pq.write_table(bad, buf)
    err = refused(tmp_path / "b", "parquet", {"a.parquet": buf.getvalue()})
    (problem,) = err.problems
    assert (problem.check, problem.column, problem.where.split()[-1]) == ("text_encoding", "device", "2")


def test_invalid_utf8_in_csv_names_line_and_column(tmp_path):
    with pytest.raises(UnreadableBatch) as err:
        read(tmp_path, "csv", {"a.csv": b"transaction_id,device\n1,atm\n2,mob\xffile\n"})
    assert err.value.column == "device"
    assert "byte 0xff" in err.value.reason
    assert "line 3, column 'device'" in err.value.reason


def test_csv_text_is_kept_as_sent(tmp_path):
    """'NA' is a value, '007' is text in a text column, a BOM is not part of the first column's name."""
    text = "\ufefftransaction_id,country,device,amount\n1,NA,007,0.1\n2,GB,,1e-7\n"
    frame = read(tmp_path, "csv", {"a.csv": text.encode()})
    assert next(iter(frame.columns)) == "transaction_id"
    assert frame["country"].tolist() == ["NA", "GB"]
    assert frame["device"].iloc[0] == "007"
    assert pd.isna(frame["device"].iloc[1])
    assert frame["amount"].tolist() == [0.1, 1e-7]


def test_samples_are_cut():
    assert clip("x" * 5_000_000) == "x" * SAMPLE_CHARS + f"...(+{5_000_000 - SAMPLE_CHARS} chars)"
    assert len(clip(b"\xff" * 1000)) < 4 * SAMPLE_CHARS + 10


def test_a_column_named_twice_in_a_csv_header_is_refused_not_renamed(tmp_path):
    text = "transaction_id,amount,amount\n1,2.5,3.5\n2,4.0,5.0\n"
    err = refused(tmp_path, "csv", {"a.csv": text.encode()})
    (problem,) = err.problems
    assert (problem.check, problem.column) == ("unique_columns", "amount")
    assert "2 times (positions 2, 3)" in problem.detail


def test_a_column_named_twice_in_a_parquet_schema_is_refused(tmp_path):
    table = pa.Table.from_arrays(
        [pa.array([1, 2]), pa.array([2.5, 4.0]), pa.array([3.5, 5.0])], ["id", "amount", "amount"]
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    err = refused(tmp_path, "parquet", {"a.parquet": buf.getvalue()})
    (problem,) = err.problems
    assert (problem.check, problem.column) == ("unique_columns", "amount")
    assert problem.where.endswith(".parquet")
    assert "positions 2, 3" in problem.detail


# -- the wrong delimiter ----------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [";", "\t", "|"])
def test_a_csv_written_with_another_delimiter_is_one_problem_not_every_column_missing(tmp_path, sent):
    spec = make_spec(tmp_path, "csv")
    text = sent.join(spec.columns) + "\n" + sent.join("1" for _ in spec.columns) + "\n"
    partition, manifest = land(spec, UPath(f"file://{tmp_path}/lake"), {"a.csv": text.encode()})
    with pytest.raises(RefusedBatch) as err:
        read_partition(spec, partition, manifest)
    (problem,) = err.value.problems
    assert problem.check == "delimiter"
    assert problem.detail == (
        f"1 column read with delimiter ','; the header looks {sent!r}-separated (spec: source.files.delimiter)"
    )
    assert problem.where == manifest.files[0].label()


def test_a_one_column_header_that_is_not_the_spec_joined_is_left_to_the_suite(tmp_path):
    frame = read(tmp_path, "csv", {"a.csv": b"notes;remarks\nhello\n"})
    assert list(frame.columns) == ["notes;remarks"]
