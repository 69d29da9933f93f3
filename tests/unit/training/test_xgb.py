"""XGBoost trainer: quality, class weighting, early stopping, device fallback, checkpoints and resume."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tradewind.training import runtime
from tradewind.training.xgb import CHECKPOINT_FILE, fit_xgboost, split_params

pytestmark = pytest.mark.unit

FAST = {"max_depth": 3, "nthread": 2, "early_stopping_rounds": None}


def test_learns_the_fraud_signal(xgb_result):
    metrics = xgb_result.metrics
    base_rate = metrics["positives"] / metrics["rows"]
    assert base_rate < 0.03
    assert metrics["pr_auc"] > 0.15  # about 10x the base rate; a random model scores ~0.015
    assert metrics["roc_auc"] > 0.75
    assert xgb_result.params["tree_method"] == "hist"


def test_scale_pos_weight_defaults_to_the_class_ratio(xy):
    train_x, train_y, hold_x, hold_y = xy
    fit = fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 2})
    ratio = (len(train_y) - train_y.sum()) / train_y.sum()
    assert fit.params["scale_pos_weight"] == pytest.approx(ratio)
    given = fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 2, "scale_pos_weight": 3})
    assert given.params["scale_pos_weight"] == 3


def test_split_params_keeps_loop_keys_apart():
    booster, loop = split_params({"eta": 0.3, "num_boost_round": 7, "max_depth": 2})
    assert loop["num_boost_round"] == 7
    assert "num_boost_round" not in booster
    assert booster["eta"] == 0.3
    assert "learning_rate" not in booster
    assert booster["max_depth"] == 2
    assert booster["tree_method"] == "hist"


def test_early_stopping_keeps_the_best_round(xy):
    train_x, train_y, hold_x, hold_y = xy
    params = {**FAST, "num_boost_round": 300, "early_stopping_rounds": 5, "learning_rate": 0.5}
    fit = fit_xgboost(train_x, train_y, hold_x, hold_y, params)
    assert fit.rounds_total < 300
    assert fit.rounds_total - 1 - fit.best_iteration == 5
    assert fit.backend.booster.num_boosted_rounds() == fit.best_iteration + 1
    assert fit.best_score == max(fit.history)


def test_progress_lines_name_round_metric_and_time(xy, caplog):
    train_x, train_y, hold_x, hold_y = xy
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 20, "log_every": 5})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("xgboost round")]
    assert [line.split()[2] for line in lines] == ["5/20", "10/20", "15/20", "20/20"]
    assert all("holdout aucpr" in line and "elapsed" in line and "remaining" in line for line in lines)
    assert all(isinstance(r.args, tuple) and r.args for r in caplog.records if r.getMessage() in lines)  # lazy %s


def test_cuda_request_without_gpu_falls_back_with_one_line(xy, caplog, monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    train_x, train_y, hold_x, hold_y = xy
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        fit = fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 2, "device": "cuda"})
    assert fit.device == "cpu"
    assert fit.params["device"] == "cpu"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["xgboost: device 'cuda' requested but no GPU is visible: falling back to CPU"]


def test_auto_device_picks_cuda_when_a_gpu_is_visible(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    assert runtime.resolve_device(None, "xgboost") == "cuda"
    assert runtime.resolve_device("cuda:1", "xgboost") == "cuda:1"
    assert runtime.resolve_device("cpu", "xgboost") == "cpu"
    with pytest.raises(ValueError, match="tpu"):
        runtime.resolve_device("tpu", "xgboost")


def test_resumes_from_checkpoint_instead_of_starting_over(xy, tmp_path, caplog):
    train_x, train_y, hold_x, hold_y = xy
    ckpt = str(tmp_path / "ckpt")
    first = fit_xgboost(
        train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 20, "checkpoint_every": 5}, checkpoint_dir=ckpt
    )
    assert first.rounds_total == 20
    assert first.resumed_from is None
    assert (tmp_path / "ckpt" / CHECKPOINT_FILE).is_file()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        second = fit_xgboost(
            train_x,
            train_y,
            hold_x,
            hold_y,
            {**FAST, "num_boost_round": 30, "checkpoint_every": 5},
            checkpoint_dir=ckpt,
        )
    messages = [r.getMessage() for r in caplog.records]
    assert any("resumed from checkpoint" in m and "at round 20" in m for m in messages)
    assert second.resumed_from == 20
    assert second.rounds_total == 30
    assert second.rounds_trained == 10 < first.rounds_trained
    assert len(second.history) == 30
    assert second.history[:20] == first.history
    # Resuming gives the same model as one uninterrupted run of 30 rounds.
    straight = fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 30})
    assert np.allclose(straight.history, second.history)
    # A third run with nothing left to do trains no round.
    third = fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 30}, checkpoint_dir=ckpt)
    assert third.rounds_trained == 0
    assert third.rounds_total == 30


def test_a_checkpoint_of_other_params_is_not_resumed(xy, caplog):
    train_x, train_y, hold_x, hold_y = xy
    ckpt = "memory://tradewind-tests/xgb-ckpt"  # any fsspec path works
    fit_xgboost(train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 5}, checkpoint_dir=ckpt)
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        other = fit_xgboost(
            train_x, train_y, hold_x, hold_y, {**FAST, "num_boost_round": 8, "max_depth": 2}, checkpoint_dir=ckpt
        )
    assert other.resumed_from is None
    assert other.rounds_trained == 8
    assert any("made with other params or data" in r.getMessage() for r in caplog.records)


def test_no_positive_label_is_an_error(xy):
    train_x, train_y, hold_x, hold_y = xy
    with pytest.raises(ValueError, match="no positive label"):
        fit_xgboost(train_x, np.zeros_like(train_y), hold_x, hold_y, {**FAST, "num_boost_round": 2})
