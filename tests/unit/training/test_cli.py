"""The train and evaluate stages through the one CLI on a small validated lake, and exit code 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tradewind.settings import REPO_ROOT
from tradewind.stages.cli import app
from tradewind.training.model import load_model

pytestmark = pytest.mark.unit

runner = CliRunner()


def _train(lake, out, *extra: str):
    args = ["train", "--framework", "xgboost", "--root", str(lake.root), "--dates", lake.date_arg, "--out", str(out)]
    return runner.invoke(app, [*args, *extra])


@pytest.fixture(scope="module")
def trained(lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    result = _train(lake, out, "--params", '{"max_depth": 4, "num_boost_round": 60, "nthread": 2}')
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_writes_a_model_and_prints_its_summary(trained, lake):
    out, summary = trained
    assert summary["framework"] == "xgboost"
    assert summary["dataset"] == "transactions"
    assert summary["model_uri"] == f"file://{out}"
    assert sorted(summary["data_hashes"]) == [d.isoformat() for d in lake.dates]
    assert summary["data_hashes"] == {d: lake.lineage[d]["content_hash"] for d in summary["data_hashes"]}
    assert summary["params"]["max_depth"] == 4
    assert summary["metrics"]["pr_auc"] > 0.05  # ~6.9k rows, ~20 holdout frauds: a noisy but clear signal
    assert load_model(str(out)).metadata["data_hash"] == summary["data_hash"]


def test_evaluate_prints_metrics(trained, lake):
    out, summary = trained
    result = runner.invoke(app, ["evaluate", "--model", str(out), "--root", str(lake.root), "--dates", lake.date_arg])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == summary["rows_train"] + summary["rows_holdout"]
    assert report["data_hash"] == summary["data_hash"]
    assert {"pr_auc", "roc_auc", "recall_at_precision", "log_loss", "ece", "segments"} <= set(report["metrics"])
    holdout = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(out),
            "--root",
            str(lake.root),
            "--dates",
            lake.date_arg,
            "--holdout",
        ],
    )
    assert json.loads(holdout.stdout)["metrics"] == summary["metrics"]  # the training holdout, reproduced


def test_train_torch_through_the_cli(lake, tmp_path):
    result = runner.invoke(
        app,
        [
            "train", "--framework", "torch", "--root", str(lake.root), "--dates", lake.date_arg,
            "--out", str(tmp_path / "m"), "--params", '{"epochs": 2}', "--checkpoint-dir", str(tmp_path / "ckpt"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["training"]["epochs_total"] == 2
    assert (tmp_path / "ckpt" / "torch-checkpoint.pt").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--params", "{max_depth: 6}"], "--params is not valid JSON: Expecting property name"),
        (["--params", "[1, 2]"], "--params must be a JSON object, got list"),
        (["--dates", "2026-01-05,2026-03-01"], "no committed validated partition for 1 date(s): 2026-03-01"),
        (["--dates", "tomorrow"], "date: 'tomorrow' is not a YYYY-MM-DD date"),
        (["--framework", "lightgbm"], "unknown framework 'lightgbm' (known: xgboost, torch)"),
        (["--dataset", "nope"], "nope.yaml: dataset spec file not found"),
        (["--framework", "torch", "--params", '{"max_depth": 6}'], "unknown torch param(s) max_depth"),
    ],
    ids=["bad-json", "not-object", "missing-partition", "bad-date", "framework", "dataset", "torch-param"],
)
def test_bad_input_exits_2_with_a_clear_message(lake, tmp_path, extra, message):
    result = _train(lake, tmp_path / "m", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "m").exists()


def test_evaluate_a_missing_model_exits_2(lake, tmp_path):
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "none"), "--dates", lake.date_arg])
    assert result.exit_code == 2
    assert "not a Tradewind model folder" in result.stderr


def test_module_entrypoint_needs_only_arguments_and_environment(lake, tmp_path):
    """``python -m tradewind train`` in a clean process: lake root from the environment, logs on stderr."""
    env = {**os.environ, "TRADEWIND_STORAGE_ROOT": str(lake.root), "TRADEWIND_PROFILE": "local"}
    out = tmp_path / "m"
    args = ["train", "--framework", "xgboost", "--dates", lake.date_arg, "--out", str(out)]
    params = ["--params", '{"num_boost_round": 10, "nthread": 2}']
    proc = subprocess.run(
        [sys.executable, "-m", "tradewind", *args, *params],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["model_uri"] == f"file://{out}"
    assert "xgboost round 10/10" in proc.stderr


def test_a_gpu_profile_on_a_machine_without_a_gpu_trains_on_cpu_and_says_so(lake, tmp_path, monkeypatch, caplog):
    """The local backend honours a GPU profile as far as it can: one worker here, a CPU fallback line."""
    import logging

    from tradewind.training import distributed

    monkeypatch.setattr(distributed, "gpus_visible", lambda: False)
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        result = _train(lake, tmp_path / "m", "--gpu-profile", "gpu-t4-spot", "--params", '{"num_boost_round": 5}')
    assert result.exit_code == 0, result.output
    assert "GPU profile gpu-t4-spot asks for 1 GPU(s) per worker but this machine shows none" in caplog.text
    assert "CPU fallback" in caplog.text
    assert json.loads(result.stdout)["training"]["workers"] == 1

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        result = _train(lake, tmp_path / "m2", "--gpu-profile", "cpu-small", "--params", '{"num_boost_round": 5}')
    assert result.exit_code == 0, result.output
    assert "CPU fallback" not in caplog.text
