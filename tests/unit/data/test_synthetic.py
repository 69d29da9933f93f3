"""Synthetic transactions: deterministic, realistic in shape, with a learnable fraud signal, and drift knobs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tests.unit.helpers import DAY
from tradewind.data.synthetic import NEW_CATEGORY, DriftKnobs, generate_day, iter_day, rows_for_day

pytestmark = pytest.mark.unit

ROWS = 20000


@pytest.fixture(scope="module")
def days() -> pd.DataFrame:
    """Three clean days of 20k rows (about 57k rows: enough for stable rates, fast to make)."""
    return pd.concat([generate_day(DAY + dt.timedelta(days=d), rows_per_day=ROWS) for d in range(3)], ignore_index=True)


@pytest.fixture(scope="module")
def base_day() -> pd.DataFrame:
    return generate_day(DAY, rows_per_day=ROWS)


def _night(frame: pd.DataFrame) -> pd.Series:
    hour = frame["event_time"].dt.hour
    return (hour <= 5) | (hour >= 23)


def test_same_seed_and_date_give_the_same_frame():
    a = generate_day(DAY, seed=11, rows_per_day=3000)
    b = generate_day(DAY, seed=11, rows_per_day=3000)
    pd.testing.assert_frame_equal(a, b)


def test_different_dates_and_seeds_give_different_frames():
    a = generate_day(DAY, rows_per_day=3000)
    other_seed = generate_day(DAY, seed=8, rows_per_day=3000)
    other_day = generate_day(DAY + dt.timedelta(days=7), rows_per_day=3000)  # same weekday, same row count
    assert len(a) == len(other_seed) == len(other_day)
    assert not a["amount"].equals(other_seed["amount"])
    assert not a["amount"].equals(other_day["amount"])
    assert set(a["transaction_id"]).isdisjoint(other_day["transaction_id"])  # ids are unique across days


def test_chunked_iteration_concatenates_to_the_whole_day():
    whole = generate_day(DAY, rows_per_day=5000)
    chunks = list(iter_day(DAY, rows_per_day=5000, chunk_rows=777))
    assert len(chunks) == -(-len(whole) // 777)
    assert all(len(c) <= 777 for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


def test_day_has_the_expected_shape(base_day):
    assert len(base_day) == rows_for_day(DAY, ROWS)
    assert base_day["transaction_id"].is_unique
    assert base_day["event_time"].is_monotonic_increasing
    assert base_day["transaction_id"].is_monotonic_increasing
    assert (base_day["event_time"].dt.date == DAY).all()
    assert base_day.notna().all().all()


def test_weekday_volume_differs():
    monday, saturday = dt.date(2026, 1, 5), dt.date(2026, 1, 10)
    assert saturday.weekday() == 5
    assert rows_for_day(saturday, ROWS) > rows_for_day(monday, ROWS)
    assert len(generate_day(saturday, rows_per_day=2000)) == rows_for_day(saturday, 2000)
    assert rows_for_day(monday, 1) == 1  # never an empty day


def test_fraud_rate_is_realistic(days):
    assert 0.008 <= days["is_fraud"].mean() <= 0.025
    assert set(days["is_fraud"].unique()) == {0, 1}


def test_amounts_are_positive_and_log_normal(days):
    amount = days["amount"]
    assert (amount > 0).all()
    assert amount.median() < 0.6 * amount.mean()  # long right tail
    log = np.log(amount)
    assert abs(log.skew()) < 0.5  # roughly symmetric on the log scale


def test_nights_are_quieter_than_evenings(days):
    hour = days["event_time"].dt.hour
    assert (hour.between(2, 4)).sum() * 5 < hour.between(18, 20).sum()


def test_categorical_values_are_in_the_spec(days, shipped_spec):
    for column in ("merchant_category", "country", "device"):
        allowed = set(shipped_spec.columns[column].categories)
        assert set(days[column].astype(str).unique()) <= allowed, column
        assert days[column].nunique() == len(allowed), f"{column}: every category appears"


def test_numeric_values_are_within_spec_bounds(days, shipped_spec):
    for name, col in shipped_spec.columns.items():
        if col.min is not None:
            assert days[name].min() >= col.min, name
        if col.max is not None:
            assert days[name].max() <= col.max, name


def test_fraud_has_learnable_signal(days):
    night = _night(days)
    assert days.loc[night, "is_fraud"].mean() > 1.5 * days.loc[~night, "is_fraud"].mean()
    by_category = days.groupby("merchant_category", observed=True)["is_fraud"].mean()
    assert by_category["jewelry"] > 5 * by_category["grocery"]
    abroad_far = days["distance_from_home_km"] > 500
    assert days.loc[abroad_far, "is_fraud"].mean() > days.loc[~abroad_far, "is_fraud"].mean()


def test_covariate_shift_raises_amounts_and_foreign_share(base_day):
    shifted = generate_day(DAY, rows_per_day=ROWS, drift=DriftKnobs(covariate_shift=1.0))
    assert shifted["amount"].median() > 1.6 * base_day["amount"].median()
    far = 500.0  # abroad transactions are thousands of km from home
    assert (shifted["distance_from_home_km"] > far).mean() > 2 * (base_day["distance_from_home_km"] > far).mean()


def test_new_category_appears_at_the_requested_share(base_day, shipped_spec):
    assert NEW_CATEGORY not in shipped_spec.columns["merchant_category"].categories
    drifted = generate_day(DAY, rows_per_day=ROWS, drift=DriftKnobs(new_category_share=0.1))
    share = (drifted["merchant_category"] == NEW_CATEGORY).mean()
    assert 0.08 <= share <= 0.12
    assert not (base_day["merchant_category"] == NEW_CATEGORY).any()


def test_concept_change_moves_fraud_to_daytime_and_groceries(base_day):
    changed = generate_day(DAY, rows_per_day=ROWS, drift=DriftKnobs(concept_change=1.0))
    # Same inputs: only the fraud relationship changes.
    pd.testing.assert_series_equal(changed["amount"], base_day["amount"])
    day_rate = changed.loc[~_night(changed), "is_fraud"].mean()
    assert day_rate > 2 * base_day.loc[~_night(base_day), "is_fraud"].mean()
    grocery_share = (changed.loc[changed["is_fraud"] == 1, "merchant_category"] == "grocery").mean()
    base_share = (base_day.loc[base_day["is_fraud"] == 1, "merchant_category"] == "grocery").mean()
    assert grocery_share > 3 * base_share


def test_drift_starts_on_its_start_date(base_day):
    knobs = DriftKnobs(covariate_shift=1.0, new_category_share=0.2, start=DAY + dt.timedelta(days=1))
    assert not knobs.active_on(DAY)
    assert knobs.active_on(DAY + dt.timedelta(days=1))
    pd.testing.assert_frame_equal(generate_day(DAY, rows_per_day=ROWS, drift=knobs), base_day)
    later = generate_day(DAY + dt.timedelta(days=1), rows_per_day=ROWS, drift=knobs)
    assert (later["merchant_category"] == NEW_CATEGORY).any()


def test_drift_knobs_any():
    assert not DriftKnobs().any
    assert DriftKnobs(concept_change=0.5).any
