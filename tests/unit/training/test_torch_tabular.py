"""PyTorch tabular trainer: quality, embeddings and scaling, determinism, progress, checkpoints."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from tradewind.data.features import build_features
from tradewind.training.torch_tabular import CHECKPOINT_FILE, TabularConfig, encode, fit_torch, merge_params

pytestmark = pytest.mark.unit

FAST = {"epochs": 2, "hidden": [16], "batch_size": 512}


def test_learns_the_fraud_signal(torch_result):
    metrics = torch_result.metrics
    assert metrics["pr_auc"] > 0.1  # ~7x the base rate of ~1.4%; a random model scores ~0.015
    assert metrics["roc_auc"] > 0.75
    assert torch_result.params["pos_weight"] > 50  # negatives per positive


def test_embeddings_have_a_row_for_unknown_and_scaling_lives_in_the_state(torch_result, shipped_spec):
    module = torch_result.model.native
    config: TabularConfig = module.config
    for name, card in zip(config.categorical, config.cardinalities, strict=True):
        assert card == len(shipped_spec.columns[name].categories) + 1
    state = module.state_dict()
    assert state["mean"].shape == state["std"].shape == (len(config.numeric),)
    assert (state["std"] > 0).all()


def test_unknown_and_missing_categories_encode_to_zero(shipped_spec, frame):
    rows = frame.head(3).copy()
    rows["device"] = ["mobile", "smartwatch", None]
    features = build_features(rows, shipped_spec)
    config = TabularConfig.for_features(features, [8], 0.0, 4)
    _, codes = encode(features, config)
    device = config.categorical.index("device")
    assert codes[:, device].tolist() == [1, 0, 0]


def test_same_seed_same_model(xy):
    a = fit_torch(*xy, FAST, seed=3)
    b = fit_torch(*xy, FAST, seed=3)
    c = fit_torch(*xy, FAST, seed=4)
    pa, pb, pc = (f.backend.predict_features(xy[2]) for f in (a, b, c))
    assert np.array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


def test_progress_line_per_epoch(xy, caplog):
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        fit_torch(*xy, {**FAST, "epochs": 3})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("torch epoch")]
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("loss" in line and "pr_auc" in line and "elapsed" in line and "remaining" in line for line in lines)


def test_resume_continues_after_the_last_epoch(xy, tmp_path, caplog):
    ckpt = str(tmp_path / "ckpt")
    first = fit_torch(*xy, {**FAST, "epochs": 2, "patience": 10}, checkpoint_dir=ckpt)
    assert (tmp_path / "ckpt" / CHECKPOINT_FILE).is_file()
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        second = fit_torch(*xy, {**FAST, "epochs": 4, "patience": 10}, checkpoint_dir=ckpt)
    assert any("resumed from checkpoint" in r.getMessage() for r in caplog.records)
    assert (second.resumed_from, second.epochs_trained, second.epochs_total) == (2, 2, 4)
    assert second.history[:2] == first.history
    # Optimizer, RNG and batch order are restored: the same as four epochs in one go.
    straight = fit_torch(*xy, {**FAST, "epochs": 4, "patience": 10})
    assert [h["loss"] for h in straight.history] == pytest.approx([h["loss"] for h in second.history], rel=1e-5)


def test_early_stopping_with_patience(xy):
    fit = fit_torch(*xy, {**FAST, "epochs": 30, "patience": 1, "learning_rate": 0.05})
    assert fit.epochs_total < 30
    assert fit.epochs_total - 1 - fit.best_epoch == 1
    assert fit.best_score == max(h["pr_auc"] for h in fit.history)


def test_unknown_params_are_named():
    with pytest.raises(ValueError, match=r"unknown torch param\(s\) max_depth \(known: .*epochs"):
        merge_params({"max_depth": 6})


def test_model_runs_on_cpu_after_training(torch_result):
    assert next(torch_result.model.native.parameters()).device == torch.device("cpu")
    assert not torch_result.model.native.training


def test_prior_calibration_undoes_the_class_weighting(xy, torch_result):
    """Weighted training inflates scores ~pos_weight-fold in odds; the saved model reads as probabilities."""
    from tradewind.evaluation import expected_calibration_error

    holdout_x, holdout_y = xy[2], xy[3]
    calibrated = fit_torch(*xy, FAST, seed=3)
    raw = fit_torch(*xy, {**FAST, "calibration": "none"}, seed=3)
    p_cal, p_raw = calibrated.backend.predict_features(holdout_x), raw.backend.predict_features(holdout_x)
    assert calibrated.backend.logit_offset == pytest.approx(-np.log(calibrated.params["pos_weight"]))
    # The same ranking (one network, one offset), so PR-AUC and early stopping are untouched ...
    assert np.array_equal(np.argsort(p_cal, kind="stable"), np.argsort(p_raw, kind="stable"))
    # ... but the mean score is near the base rate again and the calibration error falls.
    assert abs(p_cal.mean() - holdout_y.mean()) < abs(p_raw.mean() - holdout_y.mean()) / 5
    assert expected_calibration_error(holdout_y, p_cal) < 0.05 < expected_calibration_error(holdout_y, p_raw)
    assert torch_result.metrics["ece"] < 0.05  # the trainer's default model, through the serving path


def test_an_unknown_calibration_is_refused(xy):
    with pytest.raises(ValueError, match="calibration: 'isotonic' is not one of prior, none"):
        fit_torch(*xy, {**FAST, "calibration": "isotonic"})
