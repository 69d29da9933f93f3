"""PyTorch tabular trainer: quality, embeddings and scaling, determinism, progress, checkpoints, every task."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from tests.unit.training.task_data import task_frame, task_spec
from tradewind.data.features import build_features, labels
from tradewind.data.split import time_split
from tradewind.training.torch_tabular import CHECKPOINT_FILE, TabularConfig, encode, fit_torch, merge_params
from tradewind.training.trainer import task_arguments

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


# --- every task: a head and a loss per task, on small synthetic sets (tests/unit/training/task_data.py) ---


def _task_xy(task: str):
    spec = task_spec(task)
    train_rows, holdout = time_split(task_frame(task), spec)
    xy = (build_features(train_rows, spec), labels(train_rows, spec), build_features(holdout, spec))
    return spec, (*xy, labels(holdout, spec))


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_resume_of_every_task_gives_the_model_of_one_straight_run(task, tmp_path, caplog):
    spec, xy = _task_xy(task)
    ckpt = str(tmp_path / "ckpt")
    params = {**FAST, "patience": 10}
    first = fit_torch(*xy, {**params, "epochs": 2}, checkpoint_dir=ckpt, **task_arguments(spec))
    with caplog.at_level(logging.INFO, logger="tradewind.training"):
        resumed = fit_torch(*xy, {**params, "epochs": 4}, checkpoint_dir=ckpt, **task_arguments(spec))
    straight = fit_torch(*xy, {**params, "epochs": 4}, **task_arguments(spec))
    assert any("resumed from checkpoint" in r.getMessage() for r in caplog.records)
    assert (resumed.resumed_from, resumed.epochs_trained, resumed.epochs_total) == (2, 2, 4)
    assert resumed.history[:2] == first.history
    metric = "log_loss" if task == "multiclass" else "rmse"
    assert [h[metric] for h in straight.history] == pytest.approx([h[metric] for h in resumed.history], rel=1e-5)
    assert straight.best_score == min(h[metric] for h in straight.history)  # lower is better for both
    hold_x = xy[2]
    assert np.allclose(resumed.backend.predict_features(hold_x), straight.backend.predict_features(hold_x), atol=1e-6)


def test_a_checkpoint_of_another_task_or_weighting_is_not_resumed(tmp_path):
    spec, xy = _task_xy("multiclass")
    ckpt = str(tmp_path / "ckpt")
    fit_torch(*xy, {**FAST, "epochs": 1}, checkpoint_dir=ckpt, **task_arguments(spec))
    other = fit_torch(*xy, {**FAST, "class_weight": "none"}, checkpoint_dir=ckpt, **task_arguments(spec))
    assert other.resumed_from is None
    # The same rows read as a regression target: another head, so no resume either.
    regression = fit_torch(
        *xy[:1], xy[1].astype(float), *xy[2:3], xy[3].astype(float), FAST, checkpoint_dir=ckpt, task="regression"
    )
    assert regression.resumed_from is None


def test_balanced_class_weights_raise_a_rare_class_and_the_prior_keeps_probabilities():
    spec, (train_x, train_y, hold_x, hold_y) = _task_xy("multiclass")
    keep = (train_y != 2) | (np.arange(len(train_y)) % 8 == 0)  # 'high' becomes rare in training
    args = (train_x[keep], train_y[keep], hold_x, hold_y)
    params = {**FAST, "epochs": 6}
    balanced = fit_torch(*args, params, **task_arguments(spec))
    raw = fit_torch(*args, {**params, "calibration": "none"}, **task_arguments(spec))
    plain = fit_torch(*args, {**params, "class_weight": "none"}, **task_arguments(spec))
    assert (balanced.params["class_weight"], plain.params["class_weight"]) == ("balanced", "none")
    rare = hold_y == 2
    recall = [(f.backend.predict_features(hold_x)[rare].argmax(axis=1) == 2).mean() for f in (raw, plain)]
    assert recall[0] > recall[1]  # weighted logits favour the rare class
    # The prior subtracts log(weight) per class, so the probabilities read as the training rows' shares
    # again: the rare class's mean probability is near its share, not inflated as the weighted logits' is.
    counts = np.bincount(train_y[keep], minlength=3)
    assert balanced.backend.logit_offset == pytest.approx(tuple(-np.log(keep.sum() / (3 * counts))))
    share = counts[2] / keep.sum()
    means = [f.backend.predict_features(train_x[keep])[:, 2].mean() for f in (balanced, raw, plain)]
    assert abs(means[0] - share) < abs(means[1] - share) / 3
    assert abs(means[0] - share) < 0.03


@pytest.mark.parametrize(
    ("task", "params", "message"),
    [
        ("regression", {"pos_weight": 5}, "pos_weight weighs a binary task's positives, not regression's"),
        ("multiclass", {"class_weight": "inverse"}, "class_weight: 'inverse' is not one of balanced, none"),
        ("regression", {"class_weight": "balanced"}, "class_weight weighs a multiclass task's classes"),
        ("binary", {"class_weight": "balanced"}, "class_weight weighs a multiclass task's classes"),
    ],
)
def test_weighting_that_does_not_apply_is_refused(task, params, message):
    spec, xy = _task_xy(task)
    with pytest.raises(ValueError, match=message):
        fit_torch(*xy, {**FAST, **params}, **task_arguments(spec))


def test_the_dags_unweighted_defaults_are_accepted():
    spec, xy = _task_xy("multiclass")
    fit = fit_torch(*xy, {**FAST, "epochs": 1, "class_weight": "none"}, **task_arguments(spec))
    assert fit.backend.logit_offset == (0.0, 0.0, 0.0)
