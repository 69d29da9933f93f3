"""The runner: a clean day is promoted to validated/, a bad day is quarantined, reports are kept."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from upath import UPath

from tests.unit.helpers import DAY, inbox_dir, local
from tradewind.data.ingest import RAW, VALIDATED, ingest_partition, partition_path
from tradewind.data.spec import DatasetSpec
from tradewind.storage import read_manifest
from tradewind.validation.runner import REPORTS, PartitionNotFound, ValidationOutcome, validate_partition

pytestmark = pytest.mark.unit

BAD_DAY = DAY.replace(day=6)


@dataclass
class Run:
    root: UPath
    raw_lineage: dict[str, Any]
    outcome: ValidationOutcome


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, small_spec: DatasetSpec) -> Run:
    root = UPath(f"file://{tmp_path_factory.mktemp('lake')}")
    raw_lineage = ingest_partition(small_spec, root, DAY)
    return Run(root, raw_lineage, validate_partition(small_spec, root, DAY, raw_lineage=raw_lineage))


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, small_spec: DatasetSpec) -> Run:
    """The demo's broken day: negative amounts and missing merchant categories."""
    root = UPath(f"file://{tmp_path_factory.mktemp('lake')}")
    raw_lineage = ingest_partition(small_spec, root, BAD_DAY, corruptions=["negative_amounts", "null_required"])
    return Run(root, raw_lineage, validate_partition(small_spec, root, BAD_DAY.isoformat()))


def test_clean_day_passes(clean_run):
    outcome = clean_run.outcome
    assert outcome.success, outcome.message()
    assert outcome.failures == []
    assert outcome.evaluated >= 30
    assert outcome.suite == "transactions.v1"
    assert outcome.quarantine_uri is None
    assert f"transactions {DAY} passed {outcome.evaluated} expectations" in outcome.message()


def test_clean_day_is_promoted_with_lineage(clean_run):
    outcome, raw = clean_run.outcome, clean_run.raw_lineage
    validated = partition_path(clean_run.root, VALIDATED, "transactions", DAY)
    manifest = read_manifest(validated)
    assert manifest is not None
    assert outcome.validated_uri == str(validated)
    assert manifest.row_count == raw["row_count"]
    assert manifest.extra == {"validation_result_id": outcome.result_id, "raw_content_hash": raw["content_hash"]}
    lineage = outcome.lineage
    assert lineage["validation_result_id"] == outcome.result_id
    assert lineage["partition_uri"] == str(validated)
    assert "/validated/transactions/date=2026-01-05" in lineage["partition_uri"]
    assert lineage["raw_partition_uri"] == raw["partition_uri"]
    assert lineage["content_hash"] == raw["content_hash"]
    assert lineage["validated_content_hash"] == manifest.content_hash
    assert lineage["row_count"] == raw["row_count"]
    assert lineage["source"] == "synthetic"  # the raw lineage is carried along
    assert outcome.result_id.startswith(f"transactions-{DAY}-{raw['content_hash'][:12]}-")


def test_validated_data_equals_raw_data(clean_run):
    raw_dir = local(clean_run.raw_lineage["partition_uri"])
    valid_dir = local(clean_run.outcome.validated_uri)
    raw = pd.read_parquet(raw_dir / read_manifest(UPath(str(raw_dir))).files[0].name)
    valid = pd.read_parquet(valid_dir / read_manifest(UPath(str(valid_dir))).files[0].name)
    for name in ("merchant_category", "country", "device"):
        raw[name] = raw[name].astype(object)
    pd.testing.assert_frame_equal(valid, raw, check_dtype=False)
    assert valid["event_time"].dtype.kind == "M"
    assert valid["is_fraud"].dtype == "int64"


def test_report_is_kept(clean_run):
    outcome = clean_run.outcome
    report_dir = clean_run.root / REPORTS / "transactions" / f"date={DAY}" / outcome.result_id
    assert outcome.report_uri == str(report_dir / "data_docs.html")
    assert "<html" in (report_dir / "data_docs.html").read_text(encoding="utf-8")
    record = json.loads((report_dir / "validation_result.json").read_text(encoding="utf-8"))
    assert record["success"] is True
    assert record["result_id"] == outcome.result_id
    assert record["suite_source"] == "transactions.v1.json"
    assert record["gx_result"]["success"] is True
    assert len(record["gx_result"]["results"]) == outcome.evaluated
    assert outcome.lineage["report_uri"] == outcome.report_uri


def test_data_docs_show_the_observed_label_rate(clean_run):
    """The label rate GX observes is a numpy float; the Data Docs page shows it rather than dropping the cell."""
    report_dir = clean_run.root / REPORTS / "transactions" / f"date={DAY}" / clean_run.outcome.result_id
    record = json.loads((report_dir / "validation_result.json").read_text(encoding="utf-8"))
    [rate] = [
        r["result"]["observed_value"]
        for r in record["gx_result"]["results"]
        if r["expectation_config"]["type"] == "expect_column_mean_to_be_between"
    ]
    page = (report_dir / "data_docs.html").read_text(encoding="utf-8")
    assert 0 < rate < 1
    assert f"{rate:.10g}</div>" in page  # GX writes it to 10 digits, with a leading ≈ when rounded


def test_revalidating_gives_the_same_result_id(clean_run, small_spec):
    again = validate_partition(small_spec, clean_run.root, DAY)
    assert again.success
    assert again.result_id == clean_run.outcome.result_id
    assert (
        read_manifest(partition_path(clean_run.root, VALIDATED, "transactions", DAY)).extra["validation_result_id"]
        == again.result_id
    )


def test_never_ingested_day_is_not_found(clean_run, small_spec):
    day = DAY.replace(day=20)
    with pytest.raises(PartitionNotFound, match=r"no committed raw partition .*date=2026-01-20.*ingest"):
        validate_partition(small_spec, clean_run.root, day)
    assert not partition_path(clean_run.root, VALIDATED, "transactions", day).exists()
    assert not (clean_run.root / REPORTS / "transactions" / f"date={day}").exists()


def test_bad_day_is_quarantined_with_reasons(bad_run):
    outcome = bad_run.outcome
    assert not outcome.success
    assert outcome.validated_uri is None
    assert read_manifest(partition_path(bad_run.root, VALIDATED, "transactions", BAD_DAY)) is None
    assert read_manifest(partition_path(bad_run.root, RAW, "transactions", BAD_DAY)) is not None
    failed = {(f.expectation, f.column) for f in outcome.failures}
    assert failed == {
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_not_be_null", "merchant_category"),
    }
    message = outcome.message()
    assert "expect_column_values_to_be_between on 'amount'" in message
    assert "expect_column_values_to_not_be_null on 'merchant_category'" in message
    amount = next(f for f in outcome.failures if f.column == "amount")
    assert amount.sample
    assert all(v < 0 for v in amount.sample)
    quarantine = local(outcome.quarantine_uri)
    assert quarantine.is_dir()
    assert {"_manifest.json", "validation_result.json", "data_docs.html"} <= {p.name for p in quarantine.iterdir()}
    assert outcome.lineage["quarantine_uri"] == outcome.quarantine_uri


def _deliver(spec: DatasetSpec, files: dict[str, bytes]) -> None:
    inbox = inbox_dir(spec, DAY)
    for name, data in files.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(data)


def test_a_refusal_names_the_file_as_it_was_delivered(files_spec, tmp_path):
    spec = files_spec("csv")
    header = ",".join(spec.columns)
    rows = "".join(f"{i},x\n" for i in range(4))
    _deliver(spec, {"a.csv": f"{header}\n{rows}5,0\x00garbage\n".encode(), "b.csv": f"{header}\n".encode()})
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(spec, root, DAY)

    outcome = validate_partition(spec, root, DAY)

    stored = read_manifest(partition_path(root, RAW, spec.name, DAY)).files[0].name
    assert f"a.csv (stored as {stored}) line 6" in outcome.message()
    record = json.loads(local(outcome.quarantine_uri).joinpath("validation_result.json").read_text())
    assert record["files"][0] == {"stored": stored, "delivered": "a.csv"}
    assert "garbage" not in "".join(f.notes for f in outcome.failures)


def test_an_unreadable_file_is_named_as_delivered_from_a_sub_folder(files_spec, tmp_path):
    spec = files_spec("parquet")
    _deliver(spec, {"east/z.parquet": b"PAR1 not really parquet"})
    source = spec.source.files.uri.replace("*.parquet", "**/*.parquet")
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(spec, root, DAY, source_uri=source)

    outcome = validate_partition(spec, root, DAY)

    (failure,) = outcome.failures
    assert failure.expectation == "readable"
    assert failure.notes.startswith("file east/z.parquet (stored as part-")
