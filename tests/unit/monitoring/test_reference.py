"""The reference sample: what it holds, its seeded bound, and its Parquet round trip on file://."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.monitoring.conftest import champion_score
from tradewind.data.target import response_columns
from tradewind.monitoring.reference import (
    build_reference,
    conform_reference,
    load_reference,
    reference_info,
    save_reference,
)

pytestmark = pytest.mark.unit


def test_features_label_and_scores_sampled_within_the_bound(reference_day, shipped_spec):
    scores = champion_score(reference_day)
    ref = build_reference(reference_day, shipped_spec, max_rows=1000, seed=3, scores=scores)
    assert list(ref.columns) == [*shipped_spec.feature_columns, "is_fraud", "score"]
    assert len(ref) == 1000
    again = build_reference(reference_day, shipped_spec, max_rows=1000, seed=3, scores=scores)
    other = build_reference(reference_day, shipped_spec, max_rows=1000, seed=4, scores=scores)
    pd.testing.assert_frame_equal(ref, again)
    assert not ref["amount"].equals(other["amount"])
    info = reference_info(ref)
    assert (info["source_rows"], info["rows"], info["seed"], info["scores"]) == (4000, 1000, 3, True)


def test_sampled_rows_keep_their_own_scores(reference_day, shipped_spec):
    # Score = the row's position; customer_txn_count_30d is overwritten with the same position, so a
    # kept row's score must equal its own count: the sample takes whole rows.
    position = np.arange(len(reference_day))
    frame = reference_day.assign(customer_txn_count_30d=position)
    ref = build_reference(frame, shipped_spec, max_rows=500, seed=0, scores=position.astype(float))
    assert len(ref) == 500
    assert (ref["score"].to_numpy() == ref["customer_txn_count_30d"].to_numpy()).all()
    assert ref["customer_txn_count_30d"].is_monotonic_increasing  # original order kept


def test_a_small_frame_is_kept_whole_and_bad_input_is_refused(reference_day, shipped_spec):
    ref = build_reference(reference_day.head(300), shipped_spec, max_rows=1000, seed=0)
    assert len(ref) == 300
    assert "score" not in ref.columns
    with pytest.raises(ValueError, match="3 score"):
        build_reference(reference_day.head(10), shipped_spec, scores=np.zeros(3))
    with pytest.raises(ValueError, match="lack feature column"):
        build_reference(reference_day.drop(columns=["amount"]), shipped_spec)


def test_save_and_load_round_trip_on_file_uri(tmp_path, reference_day, shipped_spec):
    ref = build_reference(reference_day, shipped_spec, max_rows=800, seed=1, scores=champion_score(reference_day))
    path = f"file://{tmp_path}/models/transactions/run1/reference.parquet"
    save_reference(ref, path)
    folder = tmp_path / "models/transactions/run1"
    assert sorted(p.name for p in folder.iterdir()) == ["reference.parquet"]  # no temporary file left behind
    back = load_reference(path)
    pd.testing.assert_frame_equal(back, ref, check_categorical=False)
    assert back["merchant_category"].astype(str).tolist() == ref["merchant_category"].astype(str).tolist()
    assert reference_info(back)["rows"] == 800
    assert reference_info(back)["spec_fingerprint"] == shipped_spec.fingerprint
    with pytest.raises(FileNotFoundError, match="no drift reference"):
        load_reference(f"file://{tmp_path}/nowhere.parquet")


def test_a_multiclass_models_probabilities_are_named_as_batch_scoring_names_them():
    from tests.unit.training.task_data import task_frame, task_spec

    spec, frame = task_spec("multiclass"), task_frame("multiclass", rows=50)
    proba = np.random.default_rng(0).dirichlet(np.ones(3), size=len(frame))
    reference = build_reference(frame, spec, max_rows=20, seed=1, scores=proba)
    columns = ["probability_low", "probability_mid", "probability_high"]
    assert list(reference.columns)[-4:] == [*columns, "predicted_class"]
    assert columns == list(response_columns(spec, proba))[:3]  # batch scoring's and the pyfunc's names
    by_x1 = dict(zip(frame["x1"], proba.tolist(), strict=True))  # each kept row keeps its own probabilities
    for _, row in reference.iterrows():
        assert row[columns].tolist() == pytest.approx(by_x1[row["x1"]])
        assert row["predicted_class"] == ["low", "mid", "high"][int(np.argmax(by_x1[row["x1"]]))]
    with pytest.raises(ValueError, match=r"scores of shape \(50, 2\) for 50 training row\(s\) and 3 classes"):
        build_reference(frame, spec, scores=proba[:, :2])


def test_a_regression_models_values_are_the_prediction_column():
    from tests.unit.training.task_data import task_frame, task_spec

    spec, frame = task_spec("regression"), task_frame("regression", rows=30)
    values = np.linspace(-3, 3, len(frame))
    reference = build_reference(frame, spec, scores=values)
    assert reference["prediction"].tolist() == pytest.approx(values.tolist())
    assert "score" not in reference.columns


def test_a_reference_written_with_the_older_names_reads_as_the_new_one(tmp_path):
    from tests.unit.training.task_data import task_frame, task_spec

    spec, frame = task_spec("multiclass"), task_frame("multiclass", rows=40)
    proba = np.random.default_rng(1).dirichlet(np.ones(3), size=len(frame))
    new = build_reference(frame, spec, scores=proba)
    old = new.drop(columns=["predicted_class"]).rename(columns=lambda c: c.replace("probability_", "score_"))
    save_reference(old, f"file://{tmp_path}/old.parquet")
    back = conform_reference(load_reference(f"file://{tmp_path}/old.parquet"), spec)
    pd.testing.assert_frame_equal(back[new.columns], new, check_categorical=False)

    regression = task_spec("regression")
    older = pd.DataFrame({"x1": [0.5, 1.0], "score": [2.0, 3.0]})
    assert conform_reference(older, regression)["prediction"].tolist() == [2.0, 3.0]
    assert conform_reference(new, spec) is new  # already in the current names: untouched
