"""Features: one code path for training and serving, derived from the spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.data.features_reference import as_frame, edge_cases, random_frame, reference_build_features
from tests.unit.helpers import DAY, SPEC_PATH
from tradewind.data.columns import ColumnBatch
from tradewind.data.features import (
    TIME_FEATURES,
    FeatureMatrix,
    build_features,
    feature_builder,
    feature_set,
    labels,
)
from tradewind.data.spec import load_spec
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


# -- the numpy builder against the pandas code it replaced (tests/unit/data/features_reference.py) --
def _assert_same_frame(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Equal values, dtypes, categories and index, and every float column equal bit for bit."""
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    for name in old.columns:
        if old[name].dtype.kind == "f":
            assert new[name].to_numpy().tobytes() == old[name].to_numpy().tobytes(), name


def _reference_or_error(records, spec):
    try:
        return reference_build_features(as_frame(records), spec)
    except Exception as err:  # the same inputs must fail the same way
        return err


_EDGE_CASES = [name for name, _ in edge_cases(load_spec(SPEC_PATH))]


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("case", _EDGE_CASES)
def test_features_equal_the_reference_on_edge_cases(case, shipped_spec):
    records = dict(edge_cases(shipped_spec))[case]
    old = _reference_or_error(records, shipped_spec)
    if isinstance(old, Exception):
        with pytest.raises(type(old)):
            build_features(records, shipped_spec)
        return
    _assert_same_frame(build_features(records, shipped_spec), old)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_features_equal_the_reference_on_random_frames(shipped_spec):
    rng = np.random.default_rng(20261123)
    for _ in range(150):
        frame = random_frame(shipped_spec, rng, int(rng.integers(1, 120)))
        _assert_same_frame(build_features(frame, shipped_spec), reference_build_features(frame, shipped_spec))


def test_features_of_large_frames_equal_the_reference(frame, shipped_spec):
    """Past the dict lookup's row limit, categories go through pandas: the same codes."""
    big = pd.concat([frame] * 2, ignore_index=True).astype({"country": object})
    assert len(big) > 2048
    _assert_same_frame(build_features(big, shipped_spec), reference_build_features(big, shipped_spec))


def test_the_trainers_get_the_same_memory_layout(frame, shipped_spec):
    """Same values in the same layout: a float32 network's reductions see the same order."""
    new, old = build_features(frame, shipped_spec), reference_build_features(frame, shipped_spec)
    numeric = list(feature_set(shipped_spec).numeric)
    a, b = new[numeric].to_numpy(dtype=np.float32), old[numeric].to_numpy(dtype=np.float32)
    assert (a.flags.c_contiguous, a.flags.f_contiguous) == (b.flags.c_contiguous, b.flags.f_contiguous)
    assert a.tobytes() == b.tobytes()


def test_the_matrix_holds_the_frame(frame, shipped_spec):
    matrix = feature_builder(shipped_spec).matrix(frame.head(300))
    built = build_features(frame.head(300), shipped_spec)
    fs = feature_set(shipped_spec)
    assert matrix.numeric.dtype == np.float32
    assert matrix.numeric.shape == (300, len(fs.numeric))
    assert matrix.numeric.tobytes() == built[list(fs.numeric)].to_numpy(dtype=np.float32).copy(order="C").tobytes()
    for i, name in enumerate(fs.categorical):
        assert matrix.codes[:, i].tolist() == built[name].cat.codes.tolist()
    dense = matrix.dense()
    assert dense.dtype == np.float32
    assert dense.shape == (300, len(fs.columns))
    assert np.array_equal(dense[:, len(fs.numeric) :], np.where(matrix.codes < 0, np.nan, matrix.codes), equal_nan=True)


def test_a_column_batch_builds_the_features_of_its_frame(frame, shipped_spec):
    rows = frame.head(20).reset_index(drop=True)
    batch = ColumnBatch({name: rows[name].to_numpy() for name in rows.columns}, len(rows))
    _assert_same_frame(build_features(batch, shipped_spec), build_features(rows, shipped_spec))
    with pytest.raises(KeyError, match="event_time"):
        build_features(ColumnBatch({"amount": np.ones(1)}, 1), shipped_spec)


def test_matrices_concatenate_row_wise(frame, shipped_spec):
    builder = feature_builder(shipped_spec)
    parts = [builder.matrix(frame.iloc[i : i + n]) for i, n in ((0, 1), (5, 3), (40, 7))]
    joined = FeatureMatrix.concat(parts)
    whole = builder.matrix(pd.concat([frame.iloc[0:1], frame.iloc[5:8], frame.iloc[40:47]]))
    assert len(joined) == 11
    assert joined.numeric.tobytes() == whole.numeric.tobytes()
    assert np.array_equal(joined.codes, whole.codes)
