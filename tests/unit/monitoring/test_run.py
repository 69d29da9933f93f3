"""One drift check end to end (``run_check``): the verdict, the report folder, the Asset event's facts,
and performance drift once the window's days have validated labels in the lake."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.unit.monitoring.conftest import champion_score, day, served, write_log
from tradewind.data.ingest import ingest_partition
from tradewind.data.spec import DatasetSpec
from tradewind.data.synthetic import DriftKnobs
from tradewind.data.validated import load_validated
from tradewind.evaluation import evaluate
from tradewind.monitoring.config import PredictionSettings
from tradewind.monitoring.reference import build_reference, save_reference
from tradewind.monitoring.run import labels_for, run_check
from tradewind.monitoring.window import read_window
from tradewind.stages.cli import app
from tradewind.validation.runner import validate_partition

pytestmark = pytest.mark.unit

runner = CliRunner()
SERVED_DAY = dt.date(2026, 1, 8)
AT = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)
DAY_WINDOW = {"start": dt.datetime(2026, 1, 8), "end": dt.datetime(2026, 1, 9)}
FILES = ["drift_report.html", "drift_summary.json"]


@pytest.fixture(scope="module")
def reference(reference_day: pd.DataFrame, shipped_spec: DatasetSpec) -> pd.DataFrame:
    return build_reference(reference_day, shipped_spec, scores=reference_day["score"])


@dataclass(frozen=True)
class Labelled:
    """A lake with one validated day, the champion's traffic of that day logged in it, and its metrics."""

    root: str
    rows: int
    positives: int
    metrics: dict[str, float]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, small_spec: DatasetSpec, shipped_spec: DatasetSpec) -> Labelled:
    """The served day ingested and validated by the real pipeline code; the log holds its rows, scored."""
    folder = tmp_path_factory.mktemp("labelled")
    root = f"file://{folder}"
    raw = ingest_partition(small_spec, root, SERVED_DAY)
    outcome = validate_partition(small_spec, root, SERVED_DAY, raw_lineage=raw)
    assert outcome.success, outcome.message()
    frame = load_validated(shipped_spec, root, [SERVED_DAY])
    frame["score"] = champion_score(frame)
    write_log(folder, shipped_spec, [(served(frame, shipped_spec), "3", False, AT)])
    m = evaluate(frame[shipped_spec.label].to_numpy(), frame["score"].to_numpy())
    return Labelled(
        root, len(frame), int(frame[shipped_spec.label].sum()), {"pr_auc": m["pr_auc"], "roc_auc": m["roc_auc"]}
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_drifted_window_is_drift_with_its_report_and_the_events_facts(tmp_path, log_writer, shipped_spec, reference):
    shifted = served(day(2000, seed=3, drift=DriftKnobs(covariate_shift=1.0)), shipped_spec)
    normal = served(day(2000, seed=5), shipped_spec)
    # Only what version 7 served counts: not its shadow challenger, not another version's rows.
    root = log_writer([(shifted, "7", False, AT), (normal, "7", True, AT), (normal, "6", False, AT)])
    report = tmp_path / "report"
    outcome = run_check(
        shipped_spec, reference, log_root=f"file://{root}", lake_root=f"file://{tmp_path / 'empty'}",
        **DAY_WINDOW, model_version="7", report_folder=f"file://{report}",
    )  # fmt: skip
    assert outcome.status == "drift"
    assert outcome.drifted
    assert outcome.performance is None  # no champion metrics: no performance check
    assert _files(report) == FILES
    event = outcome.event_extra()
    assert {"amount", "distance_from_home_km"} <= set(event["drifted_features"])
    assert event["share"] >= 0.3
    assert event["window"] == {
        "start": "2026-01-08T00:00:00+00:00",
        "end": "2026-01-09T00:00:00+00:00",
        "rows_seen": 2000,
        "rows_kept": 2000,
    }
    assert event["report"] == f"file://{report}/drift_report.html"
    assert event["model_version"] == "7"
    assert event["data_until"] == "2026-01-08"  # the events' newest day: a retrain on drift trains up to it
    assert (event["status"], event["drifted"]) == ("drift", True)
    json.dumps(event)  # an Asset event's extra must be JSON
    written = json.loads((report / "drift_summary.json").read_text())
    assert (written["status"], written["drifted"]) == ("drift", True)
    assert written["drifted_features"] == event["drifted_features"]
    assert written["extra"]["model_version"] == "7"
    assert "<html" in (report / "drift_report.html").read_text()[:2000].lower()
    assert "drift check transactions: DRIFT" in outcome.table()
    summary = outcome.summary()
    assert (summary["status"], summary["data_drift"], summary["performance"]) == ("drift", True, None)
    assert summary["event"] == event


def test_the_same_distribution_is_no_drift(tmp_path, log_writer, shipped_spec, reference):
    root = log_writer([(served(day(2000, seed=13), shipped_spec), "7", False, AT)])
    report = tmp_path / "report"
    outcome = run_check(
        shipped_spec, reference, log_root=f"file://{root}", lake_root=f"file://{tmp_path / 'empty'}",
        **DAY_WINDOW, model_version="7", report_folder=f"file://{report}",
    )  # fmt: skip
    assert outcome.status == "no_drift", outcome.table()
    assert not outcome.drifted
    assert outcome.event_extra()["drifted_features"] == []
    assert _files(report) == FILES  # a clean check keeps its report too


def test_an_empty_log_is_skipped_with_the_reason_and_no_html(tmp_path, shipped_spec, reference):
    report = tmp_path / "report"
    outcome = run_check(
        shipped_spec, reference, log_root=f"file://{tmp_path / 'lake'}", lake_root=f"file://{tmp_path / 'lake'}",
        hours=24, end=AT, model_version="7", report_folder=f"file://{report}",
        champion_metrics={"pr_auc": 0.3, "roc_auc": 0.9},
    )  # fmt: skip
    assert outcome.status == "skipped"
    assert not outcome.drifted
    assert outcome.reason is not None
    assert outcome.reason.startswith("no inference log for transactions between")
    assert outcome.performance is None  # nothing to join labels to
    assert _files(report) == ["drift_summary.json"]
    event = outcome.event_extra()
    assert (event["status"], event["reason"]) == ("skipped", outcome.reason)
    assert event["data_until"] is None
    assert event["report"] == f"file://{report}/drift_summary.json"
    assert outcome.table().startswith("drift check transactions: skipped: no inference log")


def test_labels_in_the_lake_check_performance_and_it_is_in_the_summary(tmp_path, shipped_spec, reference, labelled):
    outcome = run_check(
        shipped_spec, reference, log_root=labelled.root, lake_root=labelled.root, **DAY_WINDOW,
        model_version="3", report_folder=f"file://{tmp_path / 'report'}", champion_metrics=labelled.metrics,
    )  # fmt: skip
    assert outcome.performance is not None
    assert outcome.status == "no_drift", outcome.table()  # the champion scores as well as it validated
    performance = outcome.summary()["performance"]
    assert performance["status"] == "no_drift"
    assert performance["rows"] == labelled.rows == 3000  # every served record found its label
    assert performance["positives"] == labelled.positives >= 30
    assert performance["join"]["matched"] == 3000
    assert performance["metrics"]["pr_auc"] == pytest.approx(labelled.metrics["pr_auc"])
    assert "performance check transactions: no drift (3000 labelled row(s)" in outcome.table()
    assert outcome.event_extra()["performance_drift"] is False
    written = json.loads((tmp_path / "report" / "drift_summary.json").read_text())
    assert written["performance"]["rows"] == 3000


def test_a_performance_drop_alone_makes_the_check_drift(tmp_path, shipped_spec, reference, labelled):
    better = {"pr_auc": labelled.metrics["pr_auc"] + 0.3, "roc_auc": min(labelled.metrics["roc_auc"] + 0.08, 1.0)}
    outcome = run_check(
        shipped_spec, reference, log_root=labelled.root, lake_root=labelled.root, **DAY_WINDOW,
        model_version="3", report_folder=None, champion_metrics=better,
    )  # fmt: skip
    assert not outcome.drift.drifted  # the features did not move ...
    assert outcome.status == "drift"  # ... the champion's skill did
    summary = outcome.summary()
    assert (summary["data_drift"], summary["drifted"]) == (False, True)
    assert summary["performance"]["drifted_metrics"] == ["pr_auc", "roc_auc"]
    event = outcome.event_extra()
    assert (event["status"], event["performance_drift"], event["drifted_metrics"]) == (
        "drift",
        True,
        ["pr_auc", "roc_auc"],
    )
    assert event["drifted_features"] == []


def test_the_written_summary_agrees_with_the_outcome_on_performance_drift(tmp_path, shipped_spec, reference, labelled):
    better = {"pr_auc": labelled.metrics["pr_auc"] + 0.3, "roc_auc": min(labelled.metrics["roc_auc"] + 0.08, 1.0)}
    report = tmp_path / "report"
    outcome = run_check(
        shipped_spec, reference, log_root=labelled.root, lake_root=labelled.root, **DAY_WINDOW,
        model_version="3", report_folder=f"file://{report}", champion_metrics=better,
    )  # fmt: skip
    assert outcome.status == "drift"
    written = json.loads((report / "drift_summary.json").read_text())
    assert (written["status"], written["drifted"]) == (outcome.status, outcome.drifted)


@pytest.mark.parametrize("lake", ["no partitions", "another day only"])
def test_without_validated_labels_for_the_windows_days_performance_is_none(
    tmp_path, log_writer, shipped_spec, reference, labelled, lake
):
    # Events of, and served on, the day after the labelled lake's only validated day.
    later = served(day(2000, seed=17, when=SERVED_DAY + dt.timedelta(days=1)), shipped_spec)
    root = log_writer([(later, "7", False, AT + dt.timedelta(days=1))])
    lake_root = f"file://{tmp_path / 'empty'}" if lake == "no partitions" else labelled.root
    outcome = run_check(
        shipped_spec, reference, log_root=f"file://{root}", lake_root=lake_root,
        start=dt.datetime(2026, 1, 9), end=dt.datetime(2026, 1, 10), model_version="7", report_folder=None,
        champion_metrics={"pr_auc": 0.9, "roc_auc": 0.99},  # would drift, were there labels
    )  # fmt: skip
    assert outcome.drift.status == "no_drift", outcome.table()
    assert outcome.performance is None
    assert outcome.status == "no_drift"
    assert outcome.summary()["performance"] is None
    assert "performance_drift" not in outcome.event_extra()
    assert "performance check" not in outcome.table()


def test_labels_come_from_the_validated_days_the_window_spans(tmp_path, shipped_spec, labelled):
    def window(start: dt.datetime, end: dt.datetime):
        return read_window(f"file://{tmp_path / 'nolog'}", shipped_spec, start=start, end=end)

    # 2026-01-07 12:00 .. 2026-01-09 00:00 spans the 7th (not validated) and the 8th; the end is exclusive.
    labels = labels_for(shipped_spec, labelled.root, window(dt.datetime(2026, 1, 7, 12), dt.datetime(2026, 1, 9)))
    assert labels is not None
    assert list(labels.columns) == [shipped_spec.id, shipped_spec.label]
    assert len(labels) == labelled.rows
    assert int(labels[shipped_spec.label].sum()) == labelled.positives
    assert labels_for(shipped_spec, labelled.root, window(dt.datetime(2026, 1, 9), dt.datetime(2026, 1, 10))) is None


def test_labels_are_found_by_the_events_day_when_the_traffic_is_served_days_later(
    tmp_path, shipped_spec, reference, labelled
):
    # The labelled day's events, served (replayed, or late) two days after they happened.
    frame = load_validated(shipped_spec, labelled.root, [SERVED_DAY])
    frame["score"] = champion_score(frame)
    log_root = tmp_path / "late"
    write_log(log_root, shipped_spec, [(served(frame, shipped_spec), "3", False, AT + dt.timedelta(days=2))])
    outcome = run_check(
        shipped_spec, reference, log_root=f"file://{log_root}", lake_root=labelled.root,
        start=dt.datetime(2026, 1, 10), end=dt.datetime(2026, 1, 11), model_version="3", report_folder=None,
        champion_metrics=labelled.metrics,
    )  # fmt: skip
    assert outcome.performance is not None, outcome.table()
    assert outcome.summary()["performance"]["join"]["matched"] == labelled.rows
    assert outcome.data_until == SERVED_DAY.isoformat()


def test_with_prediction_drift_off_the_performance_check_still_reads_the_scores(
    tmp_path, shipped_spec, reference, labelled
):
    spec = shipped_spec.model_copy(
        update={"drift": shipped_spec.drift.model_copy(update={"prediction": PredictionSettings(enabled=False)})}
    )
    outcome = run_check(
        spec, reference, log_root=labelled.root, lake_root=labelled.root, **DAY_WINDOW,
        model_version="3", report_folder=None, champion_metrics=labelled.metrics,
    )  # fmt: skip
    assert outcome.drift.prediction is None
    assert outcome.performance is not None
    assert outcome.summary()["performance"]["rows"] == labelled.rows


def test_the_cli_checks_performance_with_the_champions_metrics(tmp_path, shipped_spec, reference, labelled):
    ref = f"file://{tmp_path}/ref.parquet"
    save_reference(reference, ref)
    args = ["drift-check", "--reference", ref, "--root", labelled.root, "--lake-root", labelled.root,
            "--start", "2026-01-08T00:00", "--end", "2026-01-09T00:00", "--model-version", "3",
            "--champion-metrics", json.dumps(labelled.metrics)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["performance"]["status"] == "no_drift"
    assert summary["performance"]["rows"] == 3000
    assert summary["event"]["performance_drift"] is False


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{pr_auc: 0.3", "error: --champion-metrics is not valid JSON"),
        ("[0.3, 0.9]", "error: --champion-metrics must be a JSON object"),
    ],
)
def test_the_cli_refuses_champion_metrics_that_are_not_a_json_object(tmp_path, value, message):
    args = ["drift-check", "--reference", f"file://{tmp_path}/ref.parquet", "--hours", "1", "--champion-metrics", value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""  # no summary for bad input


def test_with_a_label_delay_performance_judges_the_traffic_served_that_much_earlier(
    tmp_path, shipped_spec, reference, labelled
):
    # Labels come two days late: the check of the 10th judges performance on what was served on the 8th.
    late = shipped_spec.model_copy(update={"drift": shipped_spec.drift.model_copy(update={
        "performance": shipped_spec.drift.performance.model_copy(update={"label_delay_hours": 48}),
    })})  # fmt: skip
    now = served(day(2000, seed=31, when=SERVED_DAY + dt.timedelta(days=2)), shipped_spec)
    root = tmp_path / "log"
    frame = load_validated(shipped_spec, labelled.root, [SERVED_DAY])
    frame["score"] = champion_score(frame)
    write_log(root, shipped_spec, [
        (served(frame, shipped_spec), "3", False, AT),  # the 8th: labelled by now
        (now, "3", False, AT + dt.timedelta(days=2)),  # the 10th: no labels yet
    ])  # fmt: skip
    outcome = run_check(
        late, reference, log_root=f"file://{root}", lake_root=labelled.root,
        start=dt.datetime(2026, 1, 10), end=dt.datetime(2026, 1, 11), model_version="3", report_folder=None,
        champion_metrics=labelled.metrics,
    )  # fmt: skip
    assert outcome.drift.window["rows_kept"] == len(now)  # drift: the 10th
    assert outcome.performance is not None, outcome.table()
    performance = outcome.summary()["performance"]
    assert performance["join"]["matched"] == labelled.rows  # performance: the 8th
    assert performance["extra"]["window"]["start"] == "2026-01-08T00:00:00+00:00"
    assert "traffic served 2026-01-08T00:00:00+00:00 .. 2026-01-09T00:00:00+00:00" in outcome.table()
    same_window = run_check(
        shipped_spec, reference, log_root=f"file://{root}", lake_root=labelled.root,
        start=dt.datetime(2026, 1, 10), end=dt.datetime(2026, 1, 11), model_version="3", report_folder=None,
        champion_metrics=labelled.metrics,
    )  # fmt: skip
    assert same_window.performance is None  # without the delay: the 10th has no labels yet
