"""``python -m tradewind.training``: train and evaluate from the shell, a subprocess or a pod.

The same command runs everywhere (local backend, KubernetesPodOperator, every worker of a Job),
so it needs nothing but its arguments and the environment (``TRADEWIND_PROFILE``,
``TRADEWIND_STORAGE_ROOT``, cloud credentials for the lake). Results go to stdout as one JSON
document; logs (progress lines included) go to stderr.

Distributed training is the same command with ``--workers N`` (or a ``--gpu-profile`` /
``TRADEWIND_GPU_PROFILE`` of several workers, or the rendezvous environment of an indexed Job):
the command then launches torchrun or the XGBoost collective itself, each worker runs this same
command, and rank 0 alone writes the model and prints the summary (see
:mod:`tradewind.training.distributed`).

Exit codes: 0 ok; 2 bad input, with a one-line reason (unknown dataset or framework, bad JSON in
``--params``, a missing validated partition, an unreadable model folder, an unknown parameter).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import typer

from tradewind.data.spec import SpecError
from tradewind.settings import get_settings
from tradewind.storage import as_path, uri
from tradewind.training import distributed
from tradewind.training.data import MissingPartitions, read_validated, time_split
from tradewind.training.metrics import evaluate as evaluate_scores
from tradewind.training.model import ModelLoadError, load_model
from tradewind.training.trainer import FRAMEWORKS, check_framework
from tradewind.training.trainer import train as train_model

app = typer.Typer(help="Train and evaluate Tradewind models.", no_args_is_help=True, add_completion=False)

BAD_INPUT = 2
DatesOpt = Annotated[str, typer.Option(help="Partition dates, comma-separated YYYY-MM-DD.")]
RootOpt = Annotated[str | None, typer.Option(help="Lake root URI (default: the profile's storage.root).")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


def _parse_params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        _fail(f"--params is not valid JSON: {err}")
    if not isinstance(value, dict):
        _fail(f"--params must be a JSON object, got {type(value).__name__}")
    return value


def _emit(document: dict[str, Any]) -> None:
    typer.echo(json.dumps(document, indent=2, sort_keys=True, default=str))


@app.command()
def train(
    framework: Annotated[str, typer.Option(help=f"One of: {', '.join(FRAMEWORKS)}.")],
    dates: DatesOpt,
    out: Annotated[str, typer.Option(help="Model folder to write (any fsspec URI or path).")],
    dataset: Annotated[str, typer.Option(help="Dataset spec name (include/config/datasets).")] = "transactions",
    root: RootOpt = None,
    params: Annotated[str, typer.Option(help='Hyperparameters as a JSON object, e.g. {"max_depth": 6}.')] = "{}",
    checkpoint_dir: Annotated[str | None, typer.Option(help="Checkpoint folder; resumed from when present.")] = None,
    holdout_fraction: Annotated[float, typer.Option(help="Latest share of rows held out.")] = 0.2,
    seed: int = 7,
    workers: Annotated[
        int | None, typer.Option(help="Local workers (torchrun ranks or XGBoost collective workers).")
    ] = None,
    gpu_profile: Annotated[
        str | None,
        typer.Option(envvar="TRADEWIND_GPU_PROFILE", help="GPU profile whose worker count a local run honours."),
    ] = None,
) -> None:
    """Train a model on validated partitions, save it to --out and print its summary as JSON."""
    hyper = _parse_params(params)
    try:
        check_framework(framework)
        role = distributed.plan_role(framework, workers, gpu_profile, os.environ)
    except (SpecError, ValueError) as err:
        _fail(str(err))
    if role in ("launch", "single"):
        distributed.announce_placement(gpu_profile)
    if role == "launch":
        options = {"--root": root, "--checkpoint-dir": checkpoint_dir}
        worker_args = ["train", "--framework", framework, "--dates", dates, "--out", out, "--dataset", dataset]
        worker_args += ["--params", json.dumps(hyper), "--holdout-fraction", str(holdout_fraction), "--seed", str(seed)]
        worker_args += [item for flag, value in options.items() if value for item in (flag, value)]
        _launch(framework, workers, gpu_profile, worker_args)
        return
    with _worker_group(role) as group:
        try:
            settings = get_settings()
            spec = settings.spec(dataset)
            data = read_validated(spec, root or settings.storage.root, dates)
            result = train_model(
                spec,
                data.frame,
                framework,
                hyper,
                checkpoint_dir=checkpoint_dir,
                holdout_fraction=holdout_fraction,
                seed=seed,
                data_hashes=data.content_hashes,
                workers=group,
            )
        except (MissingPartitions, SpecError, ValueError) as err:
            _fail(str(err))
        if group is not None and not group.is_writer:
            return  # rank 0 writes the model and prints the summary; this rank is done
        folder = result.model.save(out)
        _emit({**result.summary(), "model_uri": uri(as_path(folder))})


@contextlib.contextmanager
def _worker_group(role: str) -> Iterator[distributed.WorkerGroup | None]:
    """The process group this worker joins for the run (None: a single-process run)."""
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


def _launch(framework: str, workers: int | None, gpu_profile: str | None, worker_args: list[str]) -> None:
    """Start the workers (torchrun or the XGBoost collective), echo rank 0's summary, exit with their code."""
    rendezvous = distributed.kubernetes_rendezvous(os.environ) if workers is None else None
    if framework == "torch" and rendezvous is not None and rendezvous.world_size > 1:
        result = distributed.launch_torchrun(worker_args, rendezvous)
    elif framework == "torch":
        result = distributed.launch_torch_local(worker_args, distributed.local_workers(framework, workers, gpu_profile))
    else:
        count = distributed.local_workers(framework, workers, gpu_profile)
        result = distributed.launch_xgboost_local(worker_args, count)
    if result.returncode != 0:
        typer.echo(f"error: distributed {framework} run failed (exit {result.returncode}), see the log", err=True)
        raise typer.Exit(result.returncode)
    typer.echo(result.stdout, nl=False)


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="Model folder written by `train`.")],
    dates: DatesOpt,
    root: RootOpt = None,
    holdout_fraction: Annotated[
        float | None, typer.Option(help="Score only the latest share of rows (the training holdout).")
    ] = None,
    precision_target: Annotated[float, typer.Option(help="Precision for recall_at_precision.")] = 0.9,
) -> None:
    """Score a saved model on validated partitions and print its metrics as JSON."""
    try:
        trained = load_model(model)
        data = read_validated(trained.spec, root or get_settings().storage.root, dates)
        frame = data.frame if holdout_fraction is None else time_split(data.frame, trained.spec, holdout_fraction)[1]
        segments = frame[trained.spec.segment] if trained.spec.segment else None
        y = frame[trained.spec.label].astype("int64").to_numpy()
        metrics = evaluate_scores(y, trained.predict_proba(frame), segments=segments, precision_target=precision_target)
    except (MissingPartitions, ModelLoadError, SpecError, ValueError) as err:
        _fail(str(err))
    _emit(
        {
            "model_uri": uri(as_path(model)),
            "framework": trained.framework,
            "dataset": trained.spec_name,
            "dates": sorted(data.content_hashes),
            "data_hashes": data.content_hashes,
            "data_hash": data.data_hash,
            "rows": len(frame),
            "metrics": metrics,
        }
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
