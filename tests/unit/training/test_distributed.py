"""Distributed training on CPU: a 2-rank torchrun (DDP, gloo) and a 2-worker XGBoost collective.

Each distributed run goes through the real CLI and the real launchers (torchrun on 127.0.0.1 with a
free port; a RabitTracker plus two worker processes) on the small validated lake, and is compared
with the single-worker model trained by the same CLI on the same data and params.

Tolerances, and why:

* **XGBoost collective: predictions equal within 1e-6.** The collective all-reduces the ``hist``
  gradient histograms, so every split is chosen from the statistics of all rows, exactly as on one
  worker. The one approximate step is the quantile sketch (the bin edges) that is merged from the
  shards; with ``max_bin`` above the number of distinct values the edges are exact on both sides,
  and the models are identical (measured: max |diff| 0.0). With the default 256 bins the merged
  edges move a little and the models differ like two runs with other bins (measured on this
  lake: ROC-AUC 0.789 vs 0.803, PR-AUC 0.190 vs 0.139 with 24 holdout positives).
* **XGBoost collective, multiclass and regression: predictions equal within 1e-5.** The same exact
  bins; the all-reduced float32 gradient sums of weighted rows (balanced class weights, k classes)
  are added in another order than on one worker (measured: max |diff| 1.2e-6 on the multiclass set).
* **DDP: predictions equal within 1e-5 with dropout 0.** Each rank takes every second row of the
  single-worker epoch order with half the batch, so the union of one step's batches is the
  single-worker batch and DDP's averaged gradient is its gradient; only float32 summation order
  differs (measured: max |diff| 1.5e-7). With dropout the ranks draw other masks; measured with
  the default dropout 0.1 and 8 epochs: ROC-AUC 0.7582 vs 0.7587, PR-AUC 0.1529 vs 0.1494, so the
  documented tolerance for that case is 0.05 on both (not run here, to keep this file fast).
  The same holds for the multiclass head (class-weighted rows: the loss is the plain mean of the
  weighted row losses, so two half batches average to the whole batch's) and the regression head
  (the target standardised with all rows' mean and std); measured max |diff| 5.7e-8 (probabilities)
  and 4.6e-7 (values of a target with std ~4).
"""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.unit.training.task_data import ddp_worker, fit_worker, task_frame, task_spec
from tradewind.data.features import build_features, labels
from tradewind.data.split import time_split
from tradewind.data.validated import load_validated
from tradewind.stages.cli import app
from tradewind.training import distributed
from tradewind.training.distributed import WorkerCountError, WorkerGroup
from tradewind.training.model import load_model
from tradewind.training.torch_tabular import fit_torch
from tradewind.training.trainer import task_arguments, train
from tradewind.training.xgb import fit_xgboost

pytestmark = pytest.mark.unit

runner = CliRunner()
# max_bin above the distinct values of every feature of the small lake (8.5k rows): exact bin edges.
XGB_EXACT = {"max_depth": 4, "num_boost_round": 200, "nthread": 1, "max_bin": 16384}
TORCH_NO_DROPOUT = {"epochs": 4, "dropout": 0.0}
XGB_PREDICTION_TOL = 1e-6
XGB_TASK_PREDICTION_TOL = 1e-5
DDP_PREDICTION_TOL = 1e-5
METRIC_TOL = 1e-4


@pytest.fixture(autouse=True)
def _short_rendezvous(monkeypatch):
    """A worker that never joins fails the run within a minute instead of hanging the suite."""
    monkeypatch.setenv(distributed.RENDEZVOUS_TIMEOUT_ENV, "60")


def _train(lake, out, framework: str, params: dict, *extra: str):
    args = ["train", "--framework", framework, "--root", str(lake.root), "--dates", lake.date_arg]
    result = runner.invoke(app, [*args, "--out", str(out), "--params", json.dumps(params), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _compare(lake, single_dir, multi_dir) -> float:
    """Max |difference| of the two saved models' scores on every row of the lake."""
    single, multi = load_model(str(single_dir)), load_model(str(multi_dir))
    rows = load_validated(single.spec, lake.root, lake.dates)
    return float(np.abs(single.predict_proba(rows) - multi.predict_proba(rows)).max())


def _assert_same_metrics(single: dict, multi: dict, tol: float) -> None:
    for metric in ("pr_auc", "roc_auc"):
        assert multi["metrics"][metric] == pytest.approx(single["metrics"][metric], abs=tol), metric


@pytest.mark.timeout(180)
def test_xgboost_collective_with_two_workers_matches_one_worker(lake, tmp_path):
    single = _train(lake, tmp_path / "one", "xgboost", XGB_EXACT)
    multi = _train(lake, tmp_path / "two", "xgboost", XGB_EXACT, "--workers", "2")
    assert multi["training"]["workers"] == 2
    assert single["training"]["workers"] == 1
    assert multi["rows_train"] == single["rows_train"]  # each worker trained on half; the run saw all
    assert _compare(lake, tmp_path / "one", tmp_path / "two") <= XGB_PREDICTION_TOL
    _assert_same_metrics(single, multi, METRIC_TOL)
    assert multi["training"]["best_iteration"] == single["training"]["best_iteration"]


@pytest.mark.timeout(180)
def test_torchrun_ddp_with_two_ranks_matches_one_worker(lake, tmp_path):
    single = _train(lake, tmp_path / "one", "torch", TORCH_NO_DROPOUT)
    multi = _train(lake, tmp_path / "two", "torch", TORCH_NO_DROPOUT, "--workers", "2")
    assert multi["training"]["workers"] == 2
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["model.pt", "tradewind_model.json"]
    assert _compare(lake, tmp_path / "one", tmp_path / "two") <= DDP_PREDICTION_TOL
    _assert_same_metrics(single, multi, METRIC_TOL)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_xgboost_collective_trains_every_task_as_one_worker_does(task, tmp_path):
    """Two workers in a real collective (a RabitTracker and two processes) train the trainer's fitter
    on a multiclass and a regression set (class weights and num_class, or the regression objective,
    from all rows); with exact bins their model is the single worker's."""
    from xgboost.tracker import RabitTracker

    params = {**XGB_EXACT, "num_boost_round": 30}
    tracker = RabitTracker(n_workers=2, host_ip=distributed.LOCALHOST, port=0, sortby="task", timeout=60)
    tracker.start()
    args = tracker.worker_args()
    env = {"tracker_uri": args["dmlc_tracker_uri"], "tracker_port": int(args["dmlc_tracker_port"]), "num_workers": 2}
    outs = [tmp_path / f"rank{rank}.npy" for rank in range(2)]
    _run_ranks(fit_worker, lambda rank: (task, rank, env, params, str(outs[rank])))
    tracker.wait_for(60)
    _assert_ranks_match_one_worker(task, fit_xgboost, params, outs, XGB_TASK_PREDICTION_TOL)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_ddp_trains_every_task_as_one_worker_does(task, tmp_path):
    """Two DDP ranks (a gloo process group on 127.0.0.1, set up as torchrun sets it up) train the
    trainer's fitter on a multiclass and a regression set (class weights or the target's
    standardisation from all rows, rank 0's holdout score stopping both); with dropout 0 every rank's
    model is the single worker's."""
    params = {**TORCH_NO_DROPOUT, "hidden": [16], "epochs": 3}
    port = distributed.free_port()
    outs = [tmp_path / f"rank{rank}.npy" for rank in range(2)]
    _run_ranks(ddp_worker, lambda rank: (task, rank, 2, port, params, str(outs[rank])))
    _assert_ranks_match_one_worker(task, fit_torch, params, outs, DDP_PREDICTION_TOL)


def test_zero_workers_is_refused_by_the_cli(lake, tmp_path):
    args = ["train", "--framework", "xgboost", "--dates", lake.date_arg, "--out", str(tmp_path / "m")]
    result = runner.invoke(app, [*args, "--root", str(lake.root), "--workers", "0"])
    assert result.exit_code == 2
    assert "workers must be at least 1, got 0" in result.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("framework", ["xgboost", "torch"])
def test_more_workers_than_rows_is_refused_before_any_collective_call(shipped_spec, frame, framework):
    params = {"num_boost_round": 2} if framework == "xgboost" else {"epochs": 1}
    with pytest.raises(WorkerCountError, match=r"1000000 workers for \d+ training rows: every worker needs"):
        train(shipped_spec, frame, framework, params, workers=WorkerGroup(rank=0, world_size=1_000_000))


def test_shards_cover_every_row_once():
    shards = [np.arange(10)[WorkerGroup(rank, 3).shard(10)] for rank in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(10))


def test_kubernetes_env_maps_to_torchrun_flags():
    env = {"MASTER_ADDR": "job-0.svc", "MASTER_PORT": "29500", "WORLD_SIZE": "2", "NODE_RANK": "1"}
    rendezvous = distributed.kubernetes_rendezvous({**env, "NPROC_PER_NODE": "4", "TRADEWIND_JOB_NAME": "job"})
    assert rendezvous is not None
    assert rendezvous.world_size == 8
    assert rendezvous.torchrun_flags() == [
        "--nnodes=2",
        "--node-rank=1",
        "--nproc-per-node=4",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=job-0.svc:29500",
        "--rdzv-id=job",
        "--max-restarts=0",
    ]
    assert distributed.kubernetes_rendezvous({"MASTER_ADDR": "x"}) is None


def test_collective_env_makes_worker_zero_host_the_tracker():
    env = {"DMLC_TRACKER_URI": "job-0.svc", "DMLC_TRACKER_PORT": "9091", "DMLC_NUM_WORKER": "2"}
    zero = distributed.collective_env({**env, "DMLC_TASK_ID": "0"})
    one = distributed.collective_env({**env, "DMLC_TASK_ID": "1"})
    local = distributed.collective_env({**env, "DMLC_TASK_ID": "0", distributed.TRACKER_HOSTED_ENV: "1"})
    assert zero is not None
    assert one is not None
    assert local is not None
    assert (zero.hosts_tracker, one.hosts_tracker, local.hosts_tracker) == (True, False, False)
    assert one.communicator_args()["dmlc_task_id"] == "1"
    assert distributed.collective_env({**env, "DMLC_TASK_ID": "0", "DMLC_NUM_WORKER": "1"}) is None


@pytest.mark.parametrize(
    ("framework", "workers", "profile", "env", "role"),
    [
        ("xgboost", None, None, {}, "single"),
        ("xgboost", 2, None, {}, "launch"),
        ("torch", None, "cpu-small-x2", {}, "launch"),  # the profile's worker count
        ("torch", None, "cpu-small", {}, "single"),
        ("torch", None, None, {"TORCHELASTIC_RUN_ID": "r", "LOCAL_RANK": "0"}, "torch-worker"),
        (
            "xgboost",
            None,
            None,
            {"DMLC_TASK_ID": "1", "DMLC_NUM_WORKER": "2", "DMLC_TRACKER_PORT": "1"},
            "xgboost-worker",
        ),
        ("torch", None, None, {"MASTER_ADDR": "a", "MASTER_PORT": "1", "WORLD_SIZE": "2", "NODE_RANK": "0"}, "launch"),
    ],
)
def test_role_comes_from_arguments_profile_and_environment(framework, workers, profile, env, role):
    assert distributed.plan_role(framework, workers, profile, env) == role


def _run_ranks(target: Any, args_of: Any) -> None:
    """Two ranks of ``target`` in spawned processes (``args_of(rank)``); both must exit 0."""
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=target, args=args_of(rank)) for rank in range(2)]
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(150)
        assert [proc.exitcode for proc in procs] == [0, 0]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()


def _assert_ranks_match_one_worker(task: str, fit: Any, params: dict, outs: list, tol: float) -> None:
    """Each rank's saved holdout predictions are the single worker's ``fit`` on the same rows, within ``tol``."""
    spec = task_spec(task)
    train_rows, holdout = time_split(task_frame(task), spec)
    hold_x = build_features(holdout, spec)
    single = fit(
        build_features(train_rows, spec), labels(train_rows, spec), hold_x, labels(holdout, spec), params,
        **task_arguments(spec),
    )  # fmt: skip
    expected = single.backend.predict_features(hold_x)
    for out in outs:
        predicted = np.load(out)
        assert predicted.shape == expected.shape == ((len(holdout), 3) if task == "multiclass" else (len(holdout),))
        assert float(np.abs(predicted - expected).max()) <= tol
