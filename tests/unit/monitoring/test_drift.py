"""Drift checks with the real Evidently: no false alarms on the same distribution, each injected kind
found, tiny windows skipped without Evidently, bounded sampling recorded, reports written."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.unit.monitoring.conftest import day, served
from tradewind.data.spec import load_spec
from tradewind.data.synthetic import DriftKnobs
from tradewind.monitoring.config import DriftConfig
from tradewind.monitoring.drift import check_drift, write_report
from tradewind.monitoring.reference import build_reference
from tradewind.settings import REPO_ROOT

pytestmark = pytest.mark.unit

ROWS = 3000
SEEDS = 20


@pytest.fixture(scope="module")
def reference(reference_day, shipped_spec):
    return build_reference(reference_day, shipped_spec, scores=reference_day["score"])


def _window(knobs: DriftKnobs | None, spec, rows: int = ROWS, seed: int = 23):
    return served(day(rows, seed=seed, drift=knobs), spec)


def test_same_distribution_raises_at_most_one_false_alarm_in_twenty_seeds(shipped_spec):
    alarms, drifted_features, worst = 0, [], 0.0
    for i in range(SEEDS):
        training = day(ROWS, seed=100 + i)
        ref = build_reference(training, shipped_spec, scores=training["score"])
        result = check_drift(ref, _window(None, shipped_spec, seed=200 + i), shipped_spec)
        assert result.status in ("drift", "no_drift")
        assert result.checked_count == 9
        assert result.prediction is not None
        alarms += result.drifted
        drifted_features += result.drifted_features
        worst = max(worst, *(f.score for f in result.features), result.prediction.score)
    assert alarms <= 1, drifted_features
    assert len(drifted_features) <= 2, drifted_features  # of 180 feature comparisons
    assert worst < 0.1  # every distance stays below its threshold, with room: the margin is real


def test_covariate_shift_is_found_in_the_features_it_moves_and_in_the_scores(reference, shipped_spec):
    result = check_drift(reference, _window(DriftKnobs(covariate_shift=1.0), shipped_spec), shipped_spec)
    assert result.status == "drift"
    assert result.drifted
    # amounts x2, more foreign (distance) and online / electronics (category) and mobile (device) rows
    assert set(result.drifted_features) >= {"amount", "distance_from_home_km", "merchant_category", "device"}
    untouched = {"customer_age_days", "customer_txn_count_30d", "customer_avg_amount_30d"}
    assert not untouched & set(result.drifted_features)
    assert result.share == pytest.approx(len(result.drifted_features) / 9)
    assert result.share >= 0.3
    amount = next(f for f in result.features if f.column == "amount")
    assert (amount.method, amount.threshold, amount.test) == ("wasserstein", 0.1, "distance")
    assert amount.score > 0.3
    assert result.prediction is not None
    assert result.prediction.drifted
    assert result.prediction.score > 0.1


def test_a_new_category_is_found_and_makes_the_data_set_drifted(reference, shipped_spec):
    result = check_drift(reference, _window(DriftKnobs(new_category_share=0.2), shipped_spec), shipped_spec)
    assert result.drifted_features == ["merchant_category"]
    category = next(f for f in result.features if f.column == "merchant_category")
    assert category.drifted
    assert category.score > 0.2
    assert category.unknown_share == pytest.approx(0.2, abs=0.03)
    assert category.unknown_drifted
    assert result.share == pytest.approx(1 / 9)  # below drift_share ...
    assert result.drifted  # ... but a category the model never saw makes the data set drifted
    assert "unseen categories: merchant_category" in result.headline()
    # With the unseen-category rule off, one drifted feature of nine is not enough.
    lenient = check_drift(
        reference, _window(DriftKnobs(new_category_share=0.2), shipped_spec), shipped_spec,
        DriftConfig(max_unknown_category_share=None),
    )  # fmt: skip
    assert not lenient.drifted
    assert lenient.drifted_features == ["merchant_category"]


def test_a_concept_change_leaves_the_inputs_and_scores_alone(reference, shipped_spec):
    # Same inputs, new fraud pattern: no data or prediction drift; it shows with labels (test_performance).
    result = check_drift(reference, _window(DriftKnobs(concept_change=1.0), shipped_spec), shipped_spec)
    assert not result.drifted
    assert result.drifted_features == []
    assert result.prediction is not None
    assert not result.prediction.drifted


def test_a_tiny_window_is_skipped_with_its_reason_and_no_report(tmp_path, reference, shipped_spec):
    result = check_drift(reference, _window(None, shipped_spec).head(120), shipped_spec)
    assert (result.status, result.drifted, result.share, result.features) == ("skipped", False, None, [])
    assert result.reason == "120 row(s) in the window, below min_window_rows 500"
    assert result.snapshot is None
    files = write_report(result, None, f"file://{tmp_path}/report")
    assert files.html is None
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["drift_summary.json"]
    assert json.loads((tmp_path / "report/drift_summary.json").read_text())["status"] == "skipped"
    assert result.table().startswith("drift check transactions: skipped: 120 row(s)")


def test_a_skipped_check_never_imports_evidently():
    code = textwrap.dedent("""
        import sys
        from tests.unit.monitoring.conftest import day, served
        from tests.unit.helpers import SPEC_PATH
        from tradewind.data.spec import load_spec
        from tradewind.monitoring.drift import check_drift
        spec = load_spec(SPEC_PATH)
        result = check_drift(day(600, seed=1), served(day(100, seed=2), spec), spec)
        print(result.status, "evidently" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["skipped", "False"]


def test_a_big_window_is_sampled_and_the_sampling_recorded(reference, shipped_spec):
    config = DriftConfig(max_rows=1500, seed=5)
    result = check_drift(reference, _window(None, shipped_spec, rows=4000), shipped_spec, config)
    assert result.sampling["current"] == {"rows": 4000, "rows_used": 1500, "sampled": True}
    assert result.sampling["reference"] == {"rows": 4000, "rows_used": 1500, "sampled": True}
    assert (result.sampling["max_rows"], result.sampling["seed"]) == (1500, 5)
    again = check_drift(reference, _window(None, shipped_spec, rows=4000), shipped_spec, config)
    assert [f.score for f in again.features] == [f.score for f in result.features]  # seeded
    assert "current: 4000 row(s), sampled to 1500 (seed 5)" in result.table()


def test_methods_come_from_the_spec_and_evidently_gives_the_verdict(tmp_path, reference, shipped_spec):
    spec = load_spec(REPO_ROOT / "include/config/datasets/transactions.yaml", overrides={
        "drift": {"columns": {"amount": {"method": "ks"}, "country": {"method": "psi", "threshold": 0.5}}},
    })  # fmt: skip
    result = check_drift(reference, _window(DriftKnobs(covariate_shift=1.0), spec), spec)
    amount = next(f for f in result.features if f.column == "amount")
    assert (amount.method, amount.threshold, amount.test) == ("ks", 0.05, "p_value")
    assert amount.drifted
    assert amount.score < 1e-6
    country = next(f for f in result.features if f.column == "country")
    assert (country.method, country.threshold, country.drifted) == ("psi", 0.5, False)
    snapshot = result.snapshot.dict()
    configs = {m["config"].get("column"): m["config"] for m in snapshot["metrics"] if "column" in m["config"]}
    assert configs["amount"]["method"] == "ks"
    assert configs["country"]["threshold"] == 0.5
    counted = next(m for m in snapshot["metrics"] if m["config"]["type"].endswith("DriftedColumnsCount"))
    assert counted["value"]["count"] == result.drifted_count


def test_a_column_the_requests_never_send_is_reported_not_checked(reference, shipped_spec):
    window = _window(None, shipped_spec).assign(customer_age_days=None)
    result = check_drift(reference, window, shipped_spec)
    age = next(f for f in result.features if f.column == "customer_age_days")
    assert (age.checked, age.note) == (False, "no values in the window")
    assert result.checked_count == 8
    assert len(result.features) == 9
    assert "not checked: no values in the window" in result.table()


def test_a_column_with_a_handful_of_values_is_not_judged_on_them(reference, shipped_spec):
    # 3 values of a column far from the reference's: judged, they would drift it (and with three such
    # columns, the data set).
    window = _window(None, shipped_spec)
    sparse = ["distance_from_home_km", "amount", "customer_avg_amount_30d"]
    for name in sparse:
        window[name] = window[name].where(window.index < 3) * 50
    result = check_drift(reference, window, shipped_spec)
    for name in sparse:
        feature = next(f for f in result.features if f.column == name)
        assert (feature.checked, feature.drifted) == (False, False)
        assert feature.note == "too few values (3 in the window; min_window_rows 500)"
    assert result.checked_count == 6
    assert result.status == "no_drift", result.table()


def test_too_few_scores_leave_prediction_drift_unchecked(reference, shipped_spec):
    window = _window(None, shipped_spec)
    window["score"] = window["score"].where(window.index < 10)
    result = check_drift(reference, window, shipped_spec)
    assert result.prediction is None
    assert result.sampling["prediction"] == (
        "not checked, 'score': too few values (10 in the window; min_window_rows 500)"
    )


def test_a_window_the_reader_sampled_reports_the_rows_it_held(tmp_path, reference, shipped_spec):
    from tests.unit.monitoring.conftest import write_log
    from tradewind.monitoring.window import read_window

    frame = day(3000, seed=29)
    write_log(tmp_path, shipped_spec, [(served(frame, shipped_spec), "4", False, dt.datetime(2026, 1, 8, 12))])
    window = read_window(
        f"file://{tmp_path}", shipped_spec, start=dt.datetime(2026, 1, 8), end=dt.datetime(2026, 1, 9), max_rows=1000
    )
    result = check_drift(reference, window, shipped_spec)
    assert result.sampling["current"] == {"rows": 3000, "rows_used": 1000, "sampled": True}
    assert "current: 3000 row(s), sampled to 1000" in result.table()


def test_report_and_summary_are_written_and_the_table_is_compact(tmp_path, reference, shipped_spec):
    result = check_drift(reference, _window(DriftKnobs(covariate_shift=1.0), shipped_spec), shipped_spec,
                         extra={"model_version": "3"})  # fmt: skip
    files = write_report(result, result.snapshot, f"file://{tmp_path}/reports/run1")
    html = Path(files.html.removeprefix("file://"))
    summary = json.loads(Path(files.json.removeprefix("file://")).read_text())
    assert html.stat().st_size > 100_000
    assert "amount" in html.read_text()
    assert summary["status"] == "drift"
    assert summary["drifted_features"] == result.drifted_features
    assert summary["report"]["html"] == files.html
    assert summary["extra"] == {"model_version": "3"}
    assert summary["evidently_version"] == "0.7.23"
    assert {f["column"] for f in summary["features"]} == set(shipped_spec.feature_columns)
    assert result.event_extra()["report"] == files.html
    lines = result.table().splitlines()
    assert lines[0].startswith("drift check transactions: DRIFT (")
    header = next(i for i, ln in enumerate(lines) if ln.startswith("column"))
    assert len(lines) - header - 1 == 10  # nine features and the prediction
    assert all(len(ln) < 120 for ln in lines[header:])
