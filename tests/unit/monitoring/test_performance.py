"""Performance drift: labels joined to the inference log by id, AUCs against the champion's metrics."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.unit.monitoring.conftest import day, served
from tradewind.data.synthetic import DriftKnobs
from tradewind.evaluation import evaluate
from tradewind.monitoring.config import DriftConfig, PerformanceSettings
from tradewind.monitoring.performance import check_performance, join_labels

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def champion_metrics():
    """The champion's validation metrics: its scores on a normal labelled day."""
    holdout = day(20000, seed=31)
    m = evaluate(holdout["is_fraud"], holdout["score"])
    return {"pr_auc": m["pr_auc"], "roc_auc": m["roc_auc"], "log_loss": m["log_loss"]}


def _log_and_labels(frame, spec):
    return served(frame, spec), frame[[spec.id, spec.label]]


def test_the_join_counts_matches_missing_duplicates_and_conflicts(shipped_spec):
    log = pd.DataFrame({
        "transaction_id": [1, 2, 2, 3, 4, 5, 6],
        "score": [0.1, 0.5, 0.7, 0.2, float("nan"), 0.9, 0.3],
        "served_at": pd.to_datetime(["2026-01-08T10:00", "2026-01-08T10:00", "2026-01-08T11:00", "2026-01-08T10:00",
                                     "2026-01-08T10:00", "2026-01-08T10:00", "2026-01-08T10:00"], utc=True),
    })  # fmt: skip
    labels = pd.DataFrame({
        "transaction_id": [1, 2, 3, 3, 5, 5, 6, 9, 7],
        "is_fraud": [0, 1, 1, 1, 0, 1, True, 0, 2],
    })  # fmt: skip
    joined = join_labels(log, labels, shipped_spec)
    frame = joined.frame.sort_values("transaction_id").reset_index(drop=True)
    assert frame["transaction_id"].tolist() == [1, 2, 3, 6]
    assert frame["score"].tolist() == [0.1, 0.7, 0.2, 0.3]  # id 2 scored twice: the latest scoring counts
    assert frame["is_fraud"].tolist() == [0, 1, 1, 1]  # a boolean label reads as 0/1
    assert joined.counts() == {
        "log_rows": 7,
        "label_rows": 9,
        "matched": 4,
        "unlabelled": 1,  # id 5: its labels conflict, so it has none
        "unmatched_labels": 1,  # id 9 was never scored
        "duplicate_log_ids": 1,  # id 2
        "duplicate_label_ids": 1,  # id 3 labelled 1 twice
        "conflicting_label_ids": 1,  # id 5 labelled 0 and 1
        "invalid_scores": 1,  # id 4: NaN score
        "invalid_labels": 1,  # id 7: label 2
    }


def test_ids_logged_as_strings_still_join(shipped_spec):
    log = pd.DataFrame({"transaction_id": ["10", "11"], "score": [0.2, 0.8]})
    labels = pd.DataFrame({"transaction_id": [10, 11], "is_fraud": [0, 1]})
    assert join_labels(log, labels, shipped_spec).matched == 2
    with pytest.raises(ValueError, match="labels feed has no column"):
        join_labels(log, labels.rename(columns={"is_fraud": "label"}), shipped_spec)


def test_a_concept_change_shows_as_performance_drift(shipped_spec, champion_metrics):
    log, labels = _log_and_labels(day(20000, seed=37, drift=DriftKnobs(concept_change=1.0)), shipped_spec)
    result = check_performance(log, labels, shipped_spec, champion_metrics)
    assert result.status == "drift"
    assert result.drifted
    assert result.drifted_metrics == ["pr_auc", "roc_auc"]
    roc = next(c for c in result.comparisons if c.metric == "roc_auc")
    assert roc.champion > 0.85
    assert roc.current < 0.65
    assert roc.drop > 0.2
    assert result.rows == 20000
    assert result.positives > 500
    assert "performance check transactions: DRIFT" in result.table()


def test_the_same_concept_is_no_drift(shipped_spec, champion_metrics):
    log, labels = _log_and_labels(day(20000, seed=41), shipped_spec)
    result = check_performance(log, labels, shipped_spec, champion_metrics)
    assert result.status == "no_drift", result.table()
    assert all(abs(c.drop) < 0.05 for c in result.comparisons), result.table()
    assert set(result.metrics) == {"pr_auc", "roc_auc"}


def test_too_few_labels_or_no_comparable_metric_is_skipped(shipped_spec, champion_metrics):
    frame = day(3000, seed=43, drift=DriftKnobs(concept_change=1.0))
    log, labels = _log_and_labels(frame, shipped_spec)
    few = check_performance(log, labels.head(800), shipped_spec, champion_metrics)
    assert few.status == "skipped"
    assert few.reason == "800 labelled row(s), below min_labelled_rows 1000"
    strict = DriftConfig(performance=PerformanceSettings(min_labelled_rows=100, min_positives=10_000))
    rare = check_performance(log, labels, shipped_spec, champion_metrics, strict)
    assert rare.status == "skipped"
    assert "below min_positives 10000" in rare.reason
    blind = check_performance(log, labels, shipped_spec, {"log_loss": 0.05})
    assert blind.status == "skipped"
    assert blind.reason == "the champion's metrics have none of pr_auc, roc_auc"


def test_only_the_configured_metrics_are_compared(shipped_spec, champion_metrics):
    log, labels = _log_and_labels(day(20000, seed=37, drift=DriftKnobs(concept_change=1.0)), shipped_spec)
    config = DriftConfig(performance=PerformanceSettings(max_drop={"roc_auc": 0.5}))
    result = check_performance(log, labels, shipped_spec, champion_metrics, config)
    assert [c.metric for c in result.comparisons] == ["roc_auc"]
    assert result.status == "no_drift"  # a 0.3 drop is within the (lenient) bound


def test_a_window_joins_directly(log_writer, shipped_spec, champion_metrics):
    from tradewind.monitoring.window import read_window

    frame = day(2000, seed=47)
    at = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)
    root = log_writer([(served(frame, shipped_spec), "7", False, at)])
    window = read_window(f"file://{root}", shipped_spec, hours=2, now=at + dt.timedelta(hours=1), max_rows=None)
    labels = frame[["transaction_id", "is_fraud"]]
    joined = join_labels(window, labels, shipped_spec)
    by_id = frame.set_index("transaction_id")
    assert joined.matched == 2000
    assert (joined.frame["score"].to_numpy() == by_id.loc[joined.frame["transaction_id"], "score"].to_numpy()).all()
    config = DriftConfig(performance=PerformanceSettings(min_positives=10))
    result = check_performance(joined, None, shipped_spec, champion_metrics, config)
    assert result.status == "no_drift", result.table()
    assert result.positives == int(frame["is_fraud"].sum())
