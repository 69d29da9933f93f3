"""``python -m tradewind drift-check``: a window of the log against a stored reference, as JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from tests.unit.monitoring.conftest import day, served
from tradewind.data.synthetic import DriftKnobs
from tradewind.monitoring.reference import build_reference, save_reference
from tradewind.stages.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()
AT = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)


def test_check_prints_the_summary_and_writes_the_report(tmp_path, log_writer, shipped_spec, reference_day):
    reference = f"file://{tmp_path}/ref.parquet"
    save_reference(build_reference(reference_day, shipped_spec, scores=reference_day["score"]), reference)
    root = log_writer(
        [(served(day(2000, seed=3, drift=DriftKnobs(covariate_shift=1.0)), shipped_spec), "7", False, AT)]
    )
    args = ["drift-check", "--reference", reference, "--root", f"file://{root}", "--start", "2026-01-08T00:00",
            "--end", "2026-01-09T00:00", "--model-version", "7", "--out", f"file://{tmp_path}/report"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "drift"
    assert "amount" in summary["drifted_features"]
    assert summary["window"]["rows_seen"] == 2000
    assert summary["window"]["model_version"] == "7"
    assert summary["extra"] == {"reference_path": reference, "model_version": "7"}
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["drift_report.html", "drift_summary.json"]
    assert "drift check transactions: DRIFT" in result.stderr


def test_no_log_yet_is_a_skip_and_a_missing_reference_is_bad_input(tmp_path, shipped_spec, reference_day):
    reference = f"file://{tmp_path}/ref.parquet"
    save_reference(build_reference(reference_day, shipped_spec), reference)
    result = runner.invoke(
        app, ["drift-check", "--reference", reference, "--root", f"file://{tmp_path}/lake", "--hours", "1"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "skipped"
    assert summary["reason"].startswith("no inference log for transactions between")
    missing = runner.invoke(app, ["drift-check", "--reference", f"file://{tmp_path}/none.parquet", "--hours", "1"])
    assert missing.exit_code == 2
    assert "no drift reference at" in missing.stderr


def test_a_check_that_fails_once_it_runs_is_a_failure_not_bad_input(tmp_path, log_writer, shipped_spec, reference_day):
    reference = f"file://{tmp_path}/ref.parquet"
    save_reference(build_reference(reference_day, shipped_spec, scores=reference_day["score"]), reference)
    root = log_writer([(served(day(600, seed=3), shipped_spec), "7", False, AT)])
    (part,) = (root / "inference" / "transactions" / "date=2026-01-08").glob("part-*.parquet")
    part.write_bytes(b"not parquet")  # unreadable once the check reads the log
    args = ["drift-check", "--reference", reference, "--root", f"file://{root}", "--start", "2026-01-08T00:00",
            "--end", "2026-01-09T00:00"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1  # a failure the drift task retries, not a refusal of its input
    assert result.exception is not None
    assert result.stdout == ""


def test_the_window_defaults_to_the_specs_window_hours(tmp_path, shipped_spec, reference_day):
    reference = f"file://{tmp_path}/ref.parquet"
    save_reference(build_reference(reference_day, shipped_spec), reference)
    args = ["drift-check", "--reference", reference, "--root", f"file://{tmp_path}/lake", "--end", "2026-01-08T12:00"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    window = json.loads(result.stdout)["window"]
    assert (window["start"], window["end"]) == ("2026-01-07T12:00:00+00:00", "2026-01-08T12:00:00+00:00")
