"""Ingestion: a day lands as one atomic raw partition; files are kept byte for byte."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from upath import UPath

from tests.unit.helpers import DAY, inbox_dir, local, sha256
from tradewind.data.ingest import RAW, IngestError, ingest_partition, parse_day, partition_path
from tradewind.data.synthetic import DriftKnobs, generate_day, rows_for_day
from tradewind.storage import MANIFEST, read_manifest

pytestmark = pytest.mark.unit


def _parts(partition: UPath) -> list[str]:
    return sorted(p.name for p in partition.iterdir() if p.name.startswith("part-"))


def test_synthetic_ingest_lands_a_committed_partition(small_spec, tmp_path):
    root = f"file://{tmp_path}"
    lineage = ingest_partition(small_spec, root, DAY)
    partition = partition_path(root, RAW, "transactions", DAY)
    assert str(partition) == f"file://{tmp_path}/raw/transactions/date=2026-01-05"
    manifest = read_manifest(partition)
    assert manifest is not None
    expected_rows = rows_for_day(DAY, small_spec.source.synthetic.rows_per_day)
    assert lineage["row_count"] == manifest.row_count == expected_rows
    assert lineage["content_hash"] == manifest.content_hash
    assert lineage["schema_version"] == small_spec.schema_version == 1
    assert lineage["partition_uri"] == str(partition)
    assert (lineage["dataset"], lineage["partition_date"], lineage["format"]) == (
        "transactions",
        "2026-01-05",
        "parquet",
    )
    assert lineage["source"] == "synthetic"
    frame = pd.read_parquet(local(lineage["partition_uri"]) / manifest.files[0].name)
    expected = generate_day(DAY, **small_spec.source.synthetic.model_dump())
    pd.testing.assert_frame_equal(frame, expected)


def test_reingest_is_idempotent(small_spec, tmp_path):
    root = f"file://{tmp_path}"
    first = ingest_partition(small_spec, root, DAY)
    second = ingest_partition(small_spec, root, DAY.isoformat())
    assert second["content_hash"] == first["content_hash"]
    assert len(_parts(partition_path(root, RAW, "transactions", DAY))) == 1


def test_knobs_are_recorded_and_change_the_data(small_spec, tmp_path):
    root = f"file://{tmp_path}"
    clean = ingest_partition(small_spec, root, DAY)
    knobs = DriftKnobs(covariate_shift=0.5, start=DAY)
    drifted = ingest_partition(small_spec, root, DAY, drift=knobs, corruptions=["negative_amounts"])
    assert drifted["content_hash"] != clean["content_hash"]
    assert drifted["knobs"] == {
        "drift": {"covariate_shift": 0.5, "new_category_share": 0.0, "concept_change": 0.0, "start": "2026-01-05"},
        "corruptions": ["negative_amounts"],
    }
    assert clean["knobs"] == {}


def test_synthetic_source_refuses_a_source_uri(small_spec, tmp_path):
    with pytest.raises(IngestError, match="synthetic") as err:
        ingest_partition(small_spec, f"file://{tmp_path}", DAY, source_uri="file:///elsewhere/{date}/*.csv")
    assert isinstance(err.value, ValueError)  # bad input: the stage exits 2 (no retry), not 1


def test_missing_source_files_are_worth_a_retry_not_bad_input(files_spec, tmp_path):
    with pytest.raises(IngestError, match="no source files match") as err:
        ingest_partition(files_spec("csv"), f"file://{tmp_path}/lake", DAY)
    assert not isinstance(err.value, ValueError)  # exit 1: the day's files may not have arrived yet


@pytest.mark.parametrize(
    "value", ["2026-01-05", "2026-01-05T23:59:00+00:00", dt.date(2026, 1, 5), dt.datetime(2026, 1, 5, 12)]
)
def test_parse_day_accepts_dates_and_timestamps(value):
    assert parse_day(value) == DAY


def test_parse_day_rejects_garbage():
    with pytest.raises(ValueError, match="'05/01/2026' is not a YYYY-MM-DD date"):
        parse_day("05/01/2026")


def test_files_source_copies_files_byte_for_byte(files_spec, tmp_path):
    spec = files_spec("csv")
    inbox = inbox_dir(spec, DAY)
    payloads = {"a.csv": b"x,y\n1,2\n3,4\n", "b.csv": b"x,y\n5,6\n"}
    for name, data in payloads.items():
        (inbox / name).write_bytes(data)
    (inbox / "notes.txt").write_bytes(b"not matched by *.csv")
    root = f"file://{tmp_path}/lake"
    lineage = ingest_partition(spec, root, DAY)
    partition = partition_path(root, RAW, spec.name, DAY)
    manifest = read_manifest(partition)
    assert [f.sha256 for f in manifest.files] == [sha256(payloads["a.csv"]), sha256(payloads["b.csv"])]
    for f in manifest.files:
        assert sha256((partition / f.name).read_bytes()) == f.sha256
    assert lineage["row_count"] == 3
    assert lineage["format"] == "csv"
    assert lineage["source"] == f"file://{inbox}/*.csv"
    assert sorted(p.name for p in partition.iterdir()) == sorted([MANIFEST, *(f.name for f in manifest.files)])


def test_files_source_keeps_a_broken_file(files_spec, tmp_path):
    spec = files_spec("parquet")
    broken = b"PAR1 this is not really parquet"
    (inbox_dir(spec, DAY) / "batch.parquet").write_bytes(broken)
    lineage = ingest_partition(spec, f"file://{tmp_path}/lake", DAY)
    assert lineage["row_count"] is None  # unknown: validation decides
    partition = partition_path(f"file://{tmp_path}/lake", RAW, spec.name, DAY)
    manifest = read_manifest(partition)
    assert (partition / manifest.files[0].name).read_bytes() == broken


def test_files_source_with_no_match_commits_nothing(files_spec, tmp_path):
    spec = files_spec("csv")
    inbox_dir(spec, DAY)  # the day's folder exists, but is empty
    root = f"file://{tmp_path}/lake"
    with pytest.raises(IngestError, match=r"no source files match '.*2026-01-05/\*\.csv'"):
        ingest_partition(spec, root, DAY)
    partition = partition_path(root, RAW, spec.name, DAY)
    assert read_manifest(partition) is None
    assert not partition.exists() or _parts(partition) == []


def test_files_source_with_no_match_keeps_the_previous_partition(files_spec, tmp_path):
    spec = files_spec("csv")
    (inbox_dir(spec, DAY) / "a.csv").write_bytes(b"x\n1\n")
    root = f"file://{tmp_path}/lake"
    ingest_partition(spec, root, DAY)
    partition = partition_path(root, RAW, spec.name, DAY)
    before = read_manifest(partition)
    (inbox_dir(spec, DAY) / "a.csv").unlink()
    with pytest.raises(IngestError):
        ingest_partition(spec, root, DAY)
    assert read_manifest(partition) == before
    assert _parts(partition) == [before.files[0].name]


def test_source_uri_overrides_the_spec(files_spec, tmp_path):
    spec = files_spec("csv")
    other = tmp_path / "lake" / "landing" / spec.name / DAY.isoformat()
    other.mkdir(parents=True)
    (other / "one.csv").write_bytes(b"x\n1\n2\n")
    lineage = ingest_partition(
        spec, f"file://{tmp_path}/lake", DAY, source_uri=f"file://{tmp_path}/lake/landing/{spec.name}/{{date}}/one.csv"
    )
    assert lineage["row_count"] == 2
    assert lineage["source"] == f"file://{other}/one.csv"


@pytest.mark.parametrize(
    "knobs",
    [{"drift": DriftKnobs(covariate_shift=1.0)}, {"corruptions": ["negative_amounts"]}],
    ids=["drift", "corruptions"],
)
def test_files_source_refuses_synthetic_knobs(files_spec, tmp_path, knobs):
    spec = files_spec("csv")
    (inbox_dir(spec, DAY) / "a.csv").write_bytes(b"x\n1\n")
    root = f"file://{tmp_path}/lake"
    with pytest.raises(IngestError, match="synthetic source only") as err:
        ingest_partition(spec, root, DAY, **knobs)
    assert isinstance(err.value, ValueError)
    assert read_manifest(partition_path(root, RAW, spec.name, DAY)) is None


def test_csv_row_count_counts_a_last_line_without_newline(tmp_path) -> None:
    from upath import UPath

    from tradewind.data.ingest import _count_rows

    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n3,4")
    (tmp_path / "b.csv").write_bytes(b"x,y\n1,2\n3,4\n")
    base = UPath(f"file://{tmp_path}")
    assert _count_rows(base, str(tmp_path / "a.csv"), "csv") == 2
    assert _count_rows(base, str(tmp_path / "b.csv"), "csv") == 2


def test_the_manifest_records_each_file_as_delivered(files_spec, tmp_path):
    spec = files_spec("csv")
    inbox = inbox_dir(spec, DAY)
    (inbox / "east").mkdir()
    (inbox / "east" / "a.csv").write_bytes(b"x\n1\n")
    (inbox / "b.csv").write_bytes(b"x\n2\n")
    root = f"file://{tmp_path}/lake"
    ingest_partition(spec, root, DAY, source_uri=spec.source.files.uri.replace("*.csv", "**/*.csv"))
    files = read_manifest(partition_path(root, RAW, spec.name, DAY)).files
    assert [f.source for f in files] == ["b.csv", "east/a.csv"]
    assert all(f.name.startswith("part-") for f in files)
    # one named file: its own name
    ingest_partition(spec, root, DAY, source_uri=f"file://{inbox}/b.csv")
    (only,) = read_manifest(partition_path(root, RAW, spec.name, DAY)).files
    assert only.label() == f"b.csv (stored as {only.name})"


def test_a_manifest_written_before_sources_were_recorded_still_reads(files_spec, tmp_path):
    spec = files_spec("csv")
    (inbox_dir(spec, DAY) / "a.csv").write_bytes(b"x\n1\n")
    root = f"file://{tmp_path}/lake"
    ingest_partition(spec, root, DAY)
    path = partition_path(root, RAW, spec.name, DAY) / MANIFEST
    old = json.loads(path.read_text())
    for f in old["files"]:
        del f["source"]
    path.write_text(json.dumps(old))
    (part,) = read_manifest(path.parent).files
    assert part.source is None
    assert part.label() == part.name
