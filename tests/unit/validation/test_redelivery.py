"""A re-delivered day: a quarantined one withdraws the validated partition, a good one replaces it;
errors while checking a batch are quarantines, storage errors are not."""

from __future__ import annotations

import pytest
from upath import UPath

from tests.unit.helpers import DAY, local
from tradewind.data.ingest import RAW, VALIDATED, ingest_partition, partition_path
from tradewind.data.validated import (
    SUPERSEDED,
    MissingPartitions,
    available_dates,
    latest_dates,
    read_validated,
)
from tradewind.storage import read_manifest
from tradewind.validation import runner
from tradewind.validation.runner import validate_partition

pytestmark = pytest.mark.unit


def test_a_quarantined_redelivery_withdraws_the_day_until_a_good_one(small_spec, tmp_path):
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(small_spec, root, DAY)
    first = validate_partition(small_spec, root, DAY)
    assert first.success
    assert latest_dates(small_spec, root) == [DAY]

    ingest_partition(small_spec, root, DAY, corruptions=["negative_amounts"])
    bad = validate_partition(small_spec, root, DAY)

    assert not bad.success
    assert bad.superseded is not None
    assert bad.superseded["result_id"] == bad.result_id
    assert bad.lineage["superseded"]["partition_uri"] == first.validated_uri
    assert "is withdrawn: no stage reads it until a re-delivery passes" in bad.message()
    # every reader of validated data skips the day
    assert latest_dates(small_spec, root) == []
    assert available_dates(small_spec, root, until=DAY, window_days=3) == []
    with pytest.raises(MissingPartitions, match=rf"{DAY} \(superseded: its re-delivery was quarantined, result "):
        read_validated(small_spec, root, [DAY])

    ingest_partition(small_spec, root, DAY)
    good = validate_partition(small_spec, root, DAY)

    assert good.success
    assert not (local(good.validated_uri) / SUPERSEDED).exists()
    assert latest_dates(small_spec, root) == [DAY]
    assert (
        len(read_validated(small_spec, root, [DAY]).frame)
        == read_manifest(partition_path(root, VALIDATED, small_spec.name, DAY)).row_count
    )


def test_an_error_while_checking_is_a_quarantine_naming_it(small_spec, tmp_path, monkeypatch):
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(small_spec, root, DAY)

    def broken_suite(*args, **kwargs):
        raise ValueError("can only convert an array of size 1 to a Python scalar")

    monkeypatch.setattr(runner, "run_suite", broken_suite)
    outcome = validate_partition(small_spec, root, DAY)

    assert not outcome.success
    (failure,) = outcome.failures
    assert failure.expectation == "error"
    assert failure.detail == "ValueError: can only convert an array of size 1 to a Python scalar"
    assert failure.notes.startswith("while running the suite at test_redelivery.py:")
    assert (local(outcome.quarantine_uri) / "validation_result.json").exists()


def test_a_storage_error_is_not_a_quarantine(small_spec, tmp_path):
    """The lake lost a file the manifest lists: an internal error (the stage exits 1 and is retried)."""
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(small_spec, root, DAY)
    raw = partition_path(root, RAW, small_spec.name, DAY)
    (raw / read_manifest(raw).files[0].name).unlink()
    with pytest.raises(FileNotFoundError):
        validate_partition(small_spec, root, DAY)
    assert not (root / "quarantine").exists()
