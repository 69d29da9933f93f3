"""Reading a window of the inference log: time bounds, shadow rows, model versions, bounded sampling."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.monitoring.conftest import DAY, day, served
from tradewind.monitoring.window import read_window, window_bounds

pytestmark = pytest.mark.unit

T0 = dt.datetime.combine(DAY, dt.time(10), tzinfo=dt.UTC)


@pytest.fixture
def lake(log_writer, shipped_spec):
    """Day 1: three champion files of 600 rows (v7, then v8 at 14:00), one shadow file; day 2: 400 rows."""
    rows = served(day(2600, seed=5), shipped_spec)
    parts = [rows.iloc[i * 600 : (i + 1) * 600] for i in range(3)]
    shadow, later = rows.iloc[1800:2200], rows.iloc[2200:2600]
    return log_writer([
        (parts[0], "7", False, T0),
        (parts[1], "7", False, T0 + dt.timedelta(hours=2)),
        (shadow, "8", True, T0 + dt.timedelta(hours=2)),
        (parts[2], "8", False, T0 + dt.timedelta(hours=4)),
        (later, "8", False, T0 + dt.timedelta(days=1)),
    ]), rows  # fmt: skip


def _columns(spec):  # what a window holds, in order
    return ["transaction_id", "event_time", *spec.feature_columns, "score", "served_at"]


def test_shadow_rows_are_excluded_and_only_needed_columns_read(lake, shipped_spec):
    root, rows = lake
    window = read_window(f"file://{root}", shipped_spec, start=T0, end=T0 + dt.timedelta(hours=5), max_rows=None)
    assert (window.files, window.rows_read, window.rows_seen, window.rows_kept) == (4, 2200, 1800, 1800)
    assert window.shadow_excluded == 400
    assert not window.sampled
    assert list(window.frame.columns) == [
        "transaction_id",
        "event_time",
        *shipped_spec.feature_columns,
        "score",
        "served_at",
    ]
    shadow_ids = set(rows["transaction_id"].iloc[1800:2200])
    assert not shadow_ids & set(window.frame["transaction_id"])
    assert window.reason is None


def test_model_version_and_time_bounds(lake, shipped_spec):
    root, rows = lake
    v8 = read_window(f"file://{root}", shipped_spec, hours=30, now=T0 + dt.timedelta(days=1, hours=1),
                     model_version="8", max_rows=None)  # fmt: skip
    assert v8.rows_seen == 1000  # 600 of day 1 and 400 of day 2; the 400 shadow rows of v8 excluded too
    assert v8.other_versions_excluded == 1200
    assert set(v8.frame["transaction_id"]) == set(rows["transaction_id"].iloc[1200:1800]) | set(
        rows["transaction_id"].iloc[2200:2600]
    )
    # End is exclusive: a window ending at the second file's time leaves it out.
    early = read_window(f"file://{root}", shipped_spec, start=T0, end=T0 + dt.timedelta(hours=2), max_rows=None)
    assert early.rows_seen == 600
    assert early.files == 4  # only day 1's folder is listed


def test_the_sample_is_bounded_seeded_and_recorded(lake, shipped_spec):
    root, rows = lake
    kwargs = {"start": T0, "end": T0 + dt.timedelta(days=2), "max_rows": 500}
    a = read_window(f"file://{root}", shipped_spec, seed=1, **kwargs)
    b = read_window(f"file://{root}", shipped_spec, seed=1, **kwargs)
    c = read_window(f"file://{root}", shipped_spec, seed=2, **kwargs)
    assert (a.rows_seen, a.rows_kept, a.sampled) == (2200, 500, True)
    assert a.frame["transaction_id"].tolist() == b.frame["transaction_id"].tolist()
    assert a.frame["transaction_id"].tolist() != c.frame["transaction_id"].tolist()
    assert a.frame["transaction_id"].is_unique
    assert a.info()["sampled"] is True
    assert a.info()["max_rows"] == 500
    # Uniform over the whole window, not the first files: each file gets about its share (136, 91 expected).
    position = {t: i for i, t in enumerate(rows["transaction_id"])}
    file_of = a.frame["transaction_id"].map(position).to_numpy() // 600
    counts = [int((file_of == f).sum()) for f in (0, 1, 2)] + [
        int((a.frame["transaction_id"].map(position) >= 2200).sum())
    ]
    assert all(90 <= n <= 185 for n in counts[:3]), counts
    assert 55 <= counts[3] <= 130, counts
    default = read_window(f"file://{root}", shipped_spec, start=T0, end=T0 + dt.timedelta(days=2))
    assert default.max_rows == 100_000
    assert default.rows_kept == 2200


def test_an_empty_or_missing_log_says_why(tmp_path, lake, shipped_spec):
    nothing = read_window(f"file://{tmp_path}/empty", shipped_spec, hours=1, now=T0)
    assert nothing.rows_kept == 0
    assert nothing.files == 0
    assert "no inference log for transactions" in nothing.reason
    assert list(nothing.frame.columns) == [
        "transaction_id",
        "event_time",
        *shipped_spec.feature_columns,
        "score",
        "served_at",
    ]
    root, _ = lake
    none_left = read_window(f"file://{root}", shipped_spec, hours=1, now=T0 + dt.timedelta(hours=3), model_version="9")
    assert none_left.rows_kept == 0
    assert "600 of other model versions excluded" in none_left.reason


def test_window_bounds():
    start, end = window_bounds(hours=6, now=dt.datetime(2026, 1, 8, 12))
    assert (start, end) == (dt.datetime(2026, 1, 8, 6, tzinfo=dt.UTC), dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="not after its start"):
        window_bounds(dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="start and end, or hours"):
        window_bounds(start=dt.datetime(2026, 1, 2))
