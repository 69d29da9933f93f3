"""Validated data through their manifests, and the time split without leakage."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tradewind.data.ingest import VALIDATED, partition_path
from tradewind.data.spec import DatasetSpec
from tradewind.data.split import time_split
from tradewind.data.validated import (
    MissingPartitions,
    combined_hash,
    load_validated,
    parse_dates,
    read_validated,
)
from tradewind.storage import read_manifest

pytestmark = pytest.mark.unit


def test_load_validated_reads_every_listed_day(lake, shipped_spec: DatasetSpec):
    frame = load_validated(shipped_spec, lake.root, lake.dates)
    manifests = [read_manifest(partition_path(lake.root, VALIDATED, "transactions", d)) for d in lake.dates]
    assert len(frame) == sum(m.row_count for m in manifests)
    days = pd.to_datetime(frame["event_time"]).dt.date.unique()
    assert sorted(days) == lake.dates
    assert set(shipped_spec.columns) <= set(frame.columns)


def test_read_validated_carries_the_manifest_hashes(lake, shipped_spec: DatasetSpec):
    data = read_validated(shipped_spec, lake.root, lake.date_arg)
    # The same hashes the validated Asset events carry, and those of the files actually read.
    assert data.content_hashes == {d: lake.lineage[d]["content_hash"] for d in data.content_hashes}
    assert data.validated_hashes == {d: lake.lineage[d]["validated_content_hash"] for d in data.validated_hashes}
    assert sorted(data.content_hashes) == [d.isoformat() for d in lake.dates]
    assert data.data_hash == combined_hash(dict(reversed(list(data.content_hashes.items()))))  # order-free


def test_missing_partitions_are_named_before_reading(lake, shipped_spec: DatasetSpec):
    with pytest.raises(MissingPartitions) as info:
        load_validated(shipped_spec, lake.root, [lake.dates[0], "2026-02-01", "2026-02-03"])
    message = str(info.value)
    assert "2 date(s)" in message
    assert "2026-02-01" in message
    assert "2026-02-03" in message
    assert str(lake.dates[0]) not in message
    assert info.value.missing[0].startswith("2026-02-01 (file://")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-01-05", [dt.date(2026, 1, 5)]),
        ("2026-01-05, 2026-01-06,", [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]),
        (["2026-01-06", dt.date(2026, 1, 5), "2026-01-06"], [dt.date(2026, 1, 6), dt.date(2026, 1, 5)]),
    ],
)
def test_parse_dates(given, expected):
    assert parse_dates(given) == expected


@pytest.mark.parametrize("bad", ["", " , ", "2026-13-01", "yesterday"])
def test_parse_dates_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="date"):
        parse_dates(bad)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_time_split_has_no_leakage(frame: pd.DataFrame, shipped_spec: DatasetSpec, fraction: float):
    shuffled = frame.sample(frac=1.0, random_state=3)  # the split must not rely on input order
    train, holdout = time_split(shuffled, shipped_spec, fraction)
    assert train["event_time"].max() < holdout["event_time"].min()
    assert len(train) + len(holdout) == len(frame)
    assert set(train["transaction_id"]).isdisjoint(holdout["transaction_id"])
    assert len(holdout) == pytest.approx(fraction * len(frame), abs=5)
    assert train["event_time"].is_monotonic_increasing
    assert holdout["event_time"].is_monotonic_increasing


def test_time_split_sends_every_row_of_the_cut_timestamp_to_the_holdout(shipped_spec: DatasetSpec):
    times = pd.to_datetime(["2026-01-05 10:00"] * 3 + ["2026-01-05 11:00"] * 5 + ["2026-01-05 12:00"] * 2)
    frame = pd.DataFrame({"event_time": times, "transaction_id": range(10)})
    train, holdout = time_split(frame, shipped_spec, 0.3)  # the cut (row 7) falls inside the 11:00 group
    assert list(train["transaction_id"]) == [0, 1, 2]
    assert len(holdout) == 7
    assert train["event_time"].max() < holdout["event_time"].min()


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_time_split_rejects_bad_fractions(frame: pd.DataFrame, shipped_spec: DatasetSpec, fraction: float):
    with pytest.raises(ValueError, match="holdout_fraction"):
        time_split(frame.head(10), shipped_spec, fraction)


def test_time_split_refuses_when_no_row_is_earlier(shipped_spec: DatasetSpec):
    frame = pd.DataFrame({"event_time": pd.to_datetime(["2026-01-05 10:00"] * 4), "transaction_id": range(4)})
    with pytest.raises(ValueError, match="share one timestamp"):
        time_split(frame, shipped_spec, 0.5)
