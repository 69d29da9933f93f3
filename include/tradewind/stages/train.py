"""Stage ``train``: fit a model on validated partitions and write its folder; ``evaluate`` scores one.

The same call runs everywhere: a subprocess of the worker (the local backend), one pod, or every
worker of an indexed Job. Distributed training is the same call with several workers (``workers``,
a GPU profile of several workers, or the rendezvous environment of an indexed Job): the launching
process starts torchrun or the XGBoost collective, each worker runs this same stage, and rank 0
alone writes the model and returns the summary (see :mod:`tradewind.training.distributed`).

The summary records the model's task and its split (``split``: the named sets and the cut), which
the promote stage reuses.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tradewind.settings import get_settings
from tradewind.stages.outcome import StageInputError
from tradewind.storage import as_path, uri


@dataclass
class TrainRequest:
    """The arguments of one training run (the CLI's options, the same on every worker)."""

    dataset: str
    framework: str
    dates: str
    out: str
    root: str | None = None
    params: Mapping[str, Any] | None = None
    checkpoint_dir: str | None = None
    holdout_fraction: float = 0.2
    seed: int = 7
    workers: int | None = None
    gpu_profile: str | None = None

    def worker_arguments(self) -> list[str]:
        """The CLI arguments a worker of a distributed run gets (the same run, one rank)."""
        args = ["train", "--framework", self.framework, "--dates", self.dates, "--out", self.out]
        args += ["--dataset", self.dataset, "--params", json.dumps(dict(self.params or {}))]
        args += ["--holdout-fraction", str(self.holdout_fraction), "--seed", str(self.seed)]
        options = {"--root": self.root, "--checkpoint-dir": self.checkpoint_dir}
        return args + [item for flag, value in options.items() if value for item in (flag, value)]


@dataclass
class Launched:
    """A distributed run this process launched: its workers' exit code and rank 0's stdout."""

    returncode: int
    stdout: str


def train(request: TrainRequest) -> dict[str, Any] | Launched | None:
    """Run ``request``: the summary (a single process or rank 0), None (another rank), or the
    :class:`Launched` workers of a distributed run this process started."""
    from tradewind.training import distributed
    from tradewind.training.trainer import check_framework

    try:
        # Before any worker starts: a framework that does not train the spec's task is refused once, here.
        check_framework(request.framework, get_settings().spec(request.dataset))
        role = distributed.plan_role(request.framework, request.workers, request.gpu_profile, os.environ)
    except ValueError as err:
        raise StageInputError(str(err)) from err
    if role in ("launch", "single"):
        distributed.announce_placement(request.gpu_profile)
    if role == "launch":
        return _launch(request)
    with _worker_group(role) as group:
        summary = _fit(request, group)
    return summary


def _fit(request: TrainRequest, group: Any) -> dict[str, Any] | None:
    from tradewind.data.validated import MissingPartitions, read_validated
    from tradewind.training.trainer import train as train_model

    try:
        settings = get_settings()
        spec = settings.spec(request.dataset)
        data = read_validated(spec, request.root or settings.storage.root, request.dates)
        result = train_model(
            spec,
            data.frame,
            request.framework,
            dict(request.params or {}),
            checkpoint_dir=request.checkpoint_dir,
            holdout_fraction=request.holdout_fraction,
            seed=request.seed,
            data_hashes=data.content_hashes,
            workers=group,
        )
    except (MissingPartitions, ValueError) as err:
        raise StageInputError(str(err)) from err
    if group is not None and not group.is_writer:
        return None  # rank 0 writes the model and prints the summary; this rank is done
    folder = result.model.save(request.out)
    return {**result.summary(), "model_uri": uri(as_path(folder))}


@contextlib.contextmanager
def _worker_group(role: str) -> Iterator[Any]:
    """The process group this worker joins for the run (None: a single-process run)."""
    from tradewind.training import distributed

    if role == "torch-worker":
        with distributed.ddp_group() as ddp:
            yield ddp
    elif role == "xgboost-worker":
        settings = distributed.collective_env(os.environ)
        assert settings is not None  # plan_role checked it
        with distributed.xgboost_collective(settings) as collective:
            yield collective
    else:
        yield None


def _launch(request: TrainRequest) -> Launched:
    """Start the workers (torchrun or the XGBoost collective) and wait for them."""
    from tradewind.training import distributed

    worker_args = request.worker_arguments()
    framework, workers, gpu_profile = request.framework, request.workers, request.gpu_profile
    rendezvous = distributed.kubernetes_rendezvous(os.environ) if workers is None else None
    if framework == "torch" and rendezvous is not None and rendezvous.world_size > 1:
        result = distributed.launch_torchrun(worker_args, rendezvous)
    elif framework == "torch":
        result = distributed.launch_torch_local(worker_args, distributed.local_workers(framework, workers, gpu_profile))
    else:
        result = distributed.launch_xgboost_local(
            worker_args, distributed.local_workers(framework, workers, gpu_profile)
        )
    return Launched(returncode=result.returncode, stdout=result.stdout)


def evaluate(
    model: str,
    dates: str,
    *,
    root: str | None = None,
    holdout_only: bool = False,
    precision_target: float = 0.9,
) -> dict[str, Any]:
    """Score the model folder ``model`` on validated partitions (``holdout_only``: on the holdout of
    its recorded split, as the promote stage does) with its task's metrics (``precision_target``:
    binary only; a regression model's mean baseline is its training rows' mean, from its metrics)."""
    from tradewind.data.pii import segment_values
    from tradewind.data.target import label_targets
    from tradewind.data.validated import MissingPartitions, read_validated
    from tradewind.evaluation import evaluate as evaluate_scores
    from tradewind.stages.promote import candidate_sets
    from tradewind.training.model import ModelLoadError, load_model
    from tradewind.training.trainer import holdout_metrics

    try:
        trained = load_model(model)
        data = read_validated(trained.spec, root or get_settings().storage.root, dates)
        frame = candidate_sets(trained.spec, data.frame, trained.metadata).holdout if holdout_only else data.frame
        spec = trained.spec
        segments = segment_values(frame, spec)
        y, scores = label_targets(frame, spec), trained.predict_proba(frame)
        if spec.task == "binary":
            metrics = evaluate_scores(y, scores, segments=segments, precision_target=precision_target)
        else:
            baseline = (trained.metadata.get("metrics") or {}).get("baseline_mean")
            metrics = holdout_metrics(spec, y, scores, segments, baseline=baseline)
    except (MissingPartitions, ModelLoadError, ValueError) as err:
        raise StageInputError(str(err)) from err
    return {
        "model_uri": uri(as_path(model)),
        "framework": trained.framework,
        "dataset": trained.spec_name,
        "dates": sorted(data.content_hashes),
        "data_hashes": data.content_hashes,
        "data_hash": data.data_hash,
        "rows": len(frame),
        "metrics": metrics,
    }
