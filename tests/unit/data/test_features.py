"""Features: one code path for training and serving, derived from the spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.helpers import DAY
from tradewind.data.features import TIME_FEATURES, build_features, feature_set, labels
from tradewind.data.synthetic import generate_day

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_day(DAY, rows_per_day=2000)


def test_feature_set_follows_the_spec(shipped_spec):
    fs = feature_set(shipped_spec)
    assert fs.categorical == ("merchant_category", "country", "device")
    assert fs.numeric == (
        "amount",
        "card_present",
        "customer_age_days",
        "customer_txn_count_30d",
        "customer_avg_amount_30d",
        "distance_from_home_km",
        *TIME_FEATURES,
    )
    for excluded in ("transaction_id", "customer_id", "event_time", "is_fraud"):
        assert excluded not in fs.columns


def test_columns_and_dtypes(frame, shipped_spec):
    features = build_features(frame, shipped_spec)
    fs = feature_set(shipped_spec)
    assert list(features.columns) == fs.columns
    assert len(features) == len(frame)
    for name in fs.numeric:
        assert features[name].dtype == np.float32, name
    for name in fs.categorical:
        assert isinstance(features[name].dtype, pd.CategoricalDtype), name
        assert list(features[name].cat.categories) == list(shipped_spec.columns[name].categories)
    assert features[list(fs.categorical)].notna().all().all()
    assert set(features["card_present"].unique()) <= {0.0, 1.0}


@pytest.mark.parametrize("row", [0, 1, 777, -1])
def test_one_row_equals_the_same_row_of_a_batch(frame, shipped_spec, row):
    batch = build_features(frame, shipped_spec)
    index = frame.index[row]
    single = build_features(frame.loc[[index]], shipped_spec)
    pd.testing.assert_frame_equal(single, batch.loc[[index]])


def _as_json(value: object) -> object:
    """A value as a JSON request carries it: ISO time with a zone, plain Python scalars."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat() + "Z"
    return value.item() if isinstance(value, np.generic) else value


def test_serving_payload_matches_training_row(frame, shipped_spec):
    """A JSON request (strings, ISO time with a zone) gives the features training saw for that row."""
    row = frame.iloc[123]
    payload = {name: _as_json(row[name]) for name in frame.columns if name not in ("transaction_id", "is_fraud")}
    assert isinstance(payload["event_time"], str)
    assert isinstance(payload["merchant_category"], str)
    served = build_features(pd.DataFrame([payload]), shipped_spec)
    trained = build_features(frame.iloc[[123]], shipped_spec).reset_index(drop=True)
    pd.testing.assert_frame_equal(served, trained)


def test_time_features(shipped_spec, frame):
    one = frame.iloc[[0]].copy()
    one["event_time"] = pd.Timestamp("2026-01-10 02:30:00")  # a Saturday night
    features = build_features(one, shipped_spec).iloc[0]
    assert (features["hour_of_day"], features["day_of_week"]) == (2.0, 5.0)
    assert (features["is_night"], features["is_weekend"]) == (1.0, 1.0)
    one["event_time"] = pd.Timestamp("2026-01-07 14:00:00")  # a Wednesday afternoon
    features = build_features(one, shipped_spec).iloc[0]
    assert (features["is_night"], features["is_weekend"]) == (0.0, 0.0)


def test_unseen_category_becomes_missing(frame, shipped_spec):
    rows = frame.iloc[:3].copy()
    rows["merchant_category"] = rows["merchant_category"].astype(object)
    rows.iloc[1, rows.columns.get_loc("merchant_category")] = "crypto_exchange"
    features = build_features(rows, shipped_spec)
    assert features["merchant_category"].isna().tolist() == [False, True, False]
    assert features["country"].notna().all()


def test_missing_input_column_is_named(frame, shipped_spec):
    with pytest.raises(KeyError, match="distance_from_home_km"):
        build_features(frame.drop(columns=["distance_from_home_km"]), shipped_spec)
    with pytest.raises(KeyError, match="event_time"):
        build_features(frame.drop(columns=["event_time"]), shipped_spec)


def test_labels_are_int64(frame, shipped_spec):
    y = labels(frame, shipped_spec)
    assert y.dtype == np.int64
    assert y.tolist() == frame["is_fraud"].tolist()
