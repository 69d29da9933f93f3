"""``python -m tradewind <stage>``: the one CLI of every lifecycle stage.

The same command runs in a subprocess of the Airflow worker, in a pod (the trainer image's entry
point), in a test or from a shell: it needs nothing but its arguments and the environment
(``TRADEWIND_PROFILE``, ``TRADEWIND_STORAGE_ROOT``, ``MLFLOW_TRACKING_URI``, cloud credentials). Each
command prints its outcome as one JSON document on stdout (and to ``$TRADEWIND_RESULT_FILE`` when
set: a pod's XCom file); logs go to stderr.

Exit codes: 0 done; 1 failed (a traceback, worth a retry); 2 bad input, with a one-line reason;
3 the stage ran and said no (``validate``: the batch was quarantined).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from tradewind.config import ConfigError
from tradewind.stages.outcome import BAD_INPUT, REJECTED, StageInputError, as_json, write_result_file

app = typer.Typer(help="Tradewind's lifecycle stages.", no_args_is_help=True, add_completion=False)

Dataset = Annotated[str, typer.Option(help="Dataset spec name (include/config/datasets).")]
Root = Annotated[str | None, typer.Option(help="Lake root URI (default: the profile's storage.root).")]
TrackingUri = Annotated[
    str | None, typer.Option(envvar="MLFLOW_TRACKING_URI", help="MLflow tracking URI (default: the embedded store).")
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


def _run(stage: Callable[[], Any]) -> Any:
    """Call a stage; bad input exits 2 with its reason (anything else is a failure: exit 1)."""
    try:
        return stage()
    except (StageInputError, ConfigError) as err:
        _fail(str(err))


def _emit(outcome: Any, code: int = 0) -> None:
    text = as_json(outcome)
    write_result_file(text)
    typer.echo(text)
    if code:
        raise typer.Exit(code)


def _json_object(text: str | None, option: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        _fail(f"{option} is not valid JSON: {err}")
    if not isinstance(value, dict):
        _fail(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def _client(tracking_uri: str | None) -> tuple[Any, str]:
    from tradewind.registry.store import make_client
    from tradewind.settings import get_settings

    uri = get_settings().tracking_uri(tracking_uri)
    return make_client(uri), uri


@app.command()
def ingest(
    dataset: Dataset,
    date: Annotated[str, typer.Option(help="The day to land, YYYY-MM-DD.")],
    root: Root = None,
    source: Annotated[str | None, typer.Option(help="Files source only: a URI with {date}.")] = None,
    drift: Annotated[str, typer.Option(help="Synthetic source only: a drift kind.")] = "none",
    corruptions: Annotated[str, typer.Option(help="Synthetic source only: corruptions, comma-separated.")] = "",
) -> None:
    """Land one day of a data set as a raw partition; print its lineage."""
    from tradewind.stages.ingest import ingest as stage

    names = [c.strip() for c in corruptions.split(",") if c.strip()]
    _emit(_run(lambda: stage(dataset, date, root=root, source_uri=source, drift=drift, corruptions=names)))


@app.command()
def validate(
    dataset: Dataset,
    date: Annotated[str, typer.Option(help="The raw partition to validate, YYYY-MM-DD.")],
    root: Root = None,
    raw_lineage: Annotated[str | None, typer.Option(help="The raw Asset event's extra, as JSON.")] = None,
    reject_code: Annotated[
        int, typer.Option(help="Exit code when the batch is quarantined (a pod whose outcome is its XCom: 0).")
    ] = REJECTED,
) -> None:
    """Validate one raw partition; print the outcome.

    Exit codes: 0 passed.

    3 quarantined: the batch broke a check or checking it raised an error (named in the outcome and report).

    2 bad input: an unknown data set, a malformed date, a day never ingested.

    1 internal error, e.g. the lake cannot be read or written (worth a retry).
    """
    from tradewind.stages.validate import validate as stage

    lineage = _json_object(raw_lineage, "--raw-lineage")
    outcome = _run(lambda: stage(dataset, date, root=root, raw_lineage=lineage))
    typer.echo(outcome["message"], err=True)
    _emit(outcome, 0 if outcome["success"] else reject_code)


@app.command("build-suites")
def build_suites() -> None:
    """Rewrite each data set's suite, <dataset>.v<N>.json, beside the config (TRADEWIND_EXPECTATIONS_DIR overrides)."""
    from tradewind.settings import get_settings
    from tradewind.validation.suite import write_suite

    written = [str(write_suite(spec)) for spec in get_settings().specs()]
    _emit({"written": written})


@app.command()
def plan(
    dataset: Dataset,
    run_id: Annotated[str, typer.Option(help="The run's id (names its model folder).")],
    events: Annotated[str, typer.Option(help="The triggering Asset events' extras, a JSON list.")] = "[]",
    date: Annotated[str | None, typer.Option(help="The window's last day, YYYY-MM-DD.")] = None,
    window_days: Annotated[int, typer.Option(help="Days in the window.")] = 7,
    force: Annotated[bool, typer.Option(help="Ignore retrain governance.")] = False,
    root: Root = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Plan a training run: the window, the data hash, governance, the model folder."""
    from tradewind.stages.plan import plan_training

    try:
        extras = json.loads(events)
    except json.JSONDecodeError as err:
        _fail(f"--events is not valid JSON: {err}")
    if not isinstance(extras, list) or not all(isinstance(x, dict) for x in extras):
        _fail("--events must be a JSON list of objects")
    client, _ = _client(tracking_uri)
    _emit(
        _run(
            lambda: plan_training(
                dataset, run_id=run_id, client=client, events=extras, date=date, window_days=window_days,
                force=force, root=root,
            )
        )
    )  # fmt: skip


@app.command()
def train(
    framework: Annotated[str, typer.Option(help="xgboost or torch.")],
    dates: Annotated[str, typer.Option(help="Partition dates, comma-separated YYYY-MM-DD.")],
    out: Annotated[str, typer.Option(help="Model folder to write (any fsspec URI or path).")],
    dataset: Dataset = "transactions",
    root: Root = None,
    params: Annotated[str, typer.Option(help='Hyperparameters as a JSON object, e.g. {"max_depth": 6}.')] = "{}",
    checkpoint_dir: Annotated[str | None, typer.Option(help="Checkpoint folder; resumed from when present.")] = None,
    holdout_fraction: Annotated[float, typer.Option(help="Latest share of rows held out.")] = 0.2,
    seed: int = 7,
    workers: Annotated[int | None, typer.Option(help="Local workers (torchrun ranks or XGBoost workers).")] = None,
    gpu_profile: Annotated[
        str | None,
        typer.Option(envvar="TRADEWIND_GPU_PROFILE", help="GPU profile whose worker count a local run honours."),
    ] = None,
) -> None:
    """Train a model on validated partitions, save it to --out and print its summary."""
    from tradewind.stages.train import Launched, TrainRequest
    from tradewind.stages.train import train as stage

    request = TrainRequest(
        dataset=dataset, framework=framework, dates=dates, out=out, root=root,
        params=_json_object(params, "--params"), checkpoint_dir=checkpoint_dir,
        holdout_fraction=holdout_fraction, seed=seed, workers=workers, gpu_profile=gpu_profile,
    )  # fmt: skip
    result = _run(lambda: stage(request))
    if isinstance(result, Launched):
        if result.returncode != 0:
            typer.echo(f"error: distributed {framework} run failed (exit {result.returncode}), see the log", err=True)
            raise typer.Exit(result.returncode)
        write_result_file(result.stdout)
        typer.echo(result.stdout, nl=False)
    elif result is not None:  # None: a rank other than 0 of a distributed run
        _emit(result)


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="Model folder written by `train`.")],
    dates: Annotated[str, typer.Option(help="Partition dates, comma-separated YYYY-MM-DD.")],
    root: Root = None,
    holdout: Annotated[bool, typer.Option(help="Score only the holdout of the model's recorded split.")] = False,
    precision_target: Annotated[float, typer.Option(help="Precision for recall_at_precision.")] = 0.9,
) -> None:
    """Score a saved model on validated partitions and print its metrics."""
    from tradewind.stages.train import evaluate as stage

    _emit(_run(lambda: stage(model, dates, root=root, holdout_only=holdout, precision_target=precision_target)))


@app.command()
def promote(
    dataset: Dataset,
    model_uri: Annotated[str, typer.Option(help="The trained model folder.")],
    dates: Annotated[str, typer.Option(help="The dates it trained on, comma-separated.")],
    root: Root = None,
    tracking_uri: TrackingUri = None,
    triggered_by: Annotated[str, typer.Option(help="Recorded with an alias move.")] = "manual",
) -> None:
    """Log, register and judge a trained model; move the aliases when it passes the gate."""
    from tradewind.stages.promote import promote as stage

    client, uri = _client(tracking_uri)
    days = [d.strip() for d in dates.split(",") if d.strip()]
    _emit(
        _run(
            lambda: stage(
                dataset, model_uri=model_uri, dates=days, client=client, tracking_uri=uri, root=root,
                triggered_by=triggered_by,
            )
        )
    )  # fmt: skip


@app.command()
def score(
    dataset: Dataset,
    date: Annotated[str, typer.Option(help="The validated partition to score, YYYY-MM-DD.")],
    version: Annotated[str | None, typer.Option(help="A registered version (default: the alias's version).")] = None,
    alias: Annotated[str | None, typer.Option(help="The alias whose version scores (default: champion).")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows scored at a time (bounds the memory).")] = 50_000,
    root: Root = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Score a validated day with the champion (or a version); write scores/<dataset>/date=.../, print its lineage.

    Exit codes: 0 scored. 2 bad input: no validated partition (or a superseded one), no champion, an unknown
    version. 1 the registry or the lake failed (worth a retry); nothing partial is left.
    """
    from tradewind.stages.score import score as stage

    client, uri = _client(tracking_uri)
    _emit(
        _run(
            lambda: stage(
                dataset, date, client=client, tracking_uri=uri, root=root, version=version, alias=alias,
                chunk_rows=chunk_rows,
            )
        )
    )  # fmt: skip


def _when(text: str | None, option: str) -> dt.datetime:
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: '{text}' is not an ISO 8601 date-time (e.g. 2026-01-08T12:00)")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@app.command()
def drift(
    dataset: Dataset,
    end: Annotated[str | None, typer.Option(help="Window end (exclusive), ISO 8601; default now.")] = None,
    hours: Annotated[float | None, typer.Option(help="Hours before --end; default the spec's window_hours.")] = None,
    root: Root = None,
    log_root: Annotated[
        str | None, typer.Option(help="Inference log root (default: serving.inference_log_root, else the lake).")
    ] = None,
    stamp: Annotated[str | None, typer.Option(help="The report folder's name (default: now, UTC).")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Check the champion's served traffic for drift; write the report and print the event's facts."""
    from tradewind.settings import get_settings
    from tradewind.stages.drift import check_champion

    until = _when(end, "--end")

    def stage() -> dict[str, Any]:
        from tradewind.monitoring.config import drift_config

        window = hours if hours is not None else drift_config(get_settings().spec(dataset)).window_hours
        client, uri = _client(tracking_uri)
        return check_champion(
            dataset, client=client, tracking_uri=uri, end=until, window_hours=window, lake_root=root,
            log_root=log_root, stamp=stamp,
        )  # fmt: skip

    _emit(_run(stage))


@app.command("drift-check")
def drift_check(
    reference: Annotated[str, typer.Option(help="A reference.parquet (any fsspec URI or path).")],
    dataset: Dataset = "transactions",
    hours: Annotated[
        float | None, typer.Option(help="The last N hours before --end (default now); default the spec's window_hours.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (UTC if no zone).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (exclusive), ISO 8601.")] = None,
    model_version: Annotated[str | None, typer.Option(help="Only rows this model version served.")] = None,
    root: Annotated[
        str | None, typer.Option(help="Inference log root (default: serving.inference_log_root, else storage.root).")
    ] = None,
    lake_root: Annotated[
        str | None, typer.Option(help="Lake root of the validated labels (default: storage.root).")
    ] = None,
    champion_metrics: Annotated[
        str | None, typer.Option(help='Validation metrics to compare performance with, e.g. {"pr_auc": 0.3}.')
    ] = None,
    out: Annotated[str | None, typer.Option(help="Folder for the HTML report and the JSON summary.")] = None,
) -> None:
    """Check a window of the inference log against a stored reference (no registry); print the summary."""
    from tradewind.stages.drift import check_reference

    begin = _when(start, "--start") if start else None
    until = _when(end, "--end") if end else None
    metrics = _json_object(champion_metrics, "--champion-metrics") or None
    summary, table = _run(
        lambda: check_reference(
            dataset, reference, start=begin, end=until, hours=hours, model_version=model_version, log_root=root,
            lake_root=lake_root, champion_metrics=metrics, out=out,
        )
    )  # fmt: skip
    typer.echo(table, err=True)
    _emit(summary)


@app.command("canary-verdict")
def canary_verdict(
    start: Annotated[Path, typer.Option(help="The model server's /metrics at the stage's start (a saved scrape).")],
    end: Annotated[Path, typer.Option(help="Its /metrics at the stage's end.")],
    min_requests: Annotated[int | None, typer.Option(help="Challenger requests the stage needs (canary.yaml).")] = None,
) -> None:
    """Judge one canary stage from two scrapes of the server's metrics; exit 3 when it fails its SLOs."""
    from tradewind.stages.canary import verdict_from_scrapes

    try:
        texts = start.read_text(encoding="utf-8"), end.read_text(encoding="utf-8")
    except OSError as err:
        _fail(f"cannot read a scrape: {err}")
    verdict = _run(lambda: verdict_from_scrapes(*texts, {"min_requests": min_requests}))
    typer.echo(verdict["summary"], err=True)
    _emit(verdict, 0 if verdict["passed"] else REJECTED)


@app.command()
def rollback(
    dataset: Dataset,
    to_version: Annotated[str | None, typer.Option(help="A version to return to (default: previous-champion).")] = None,
    reason: Annotated[str, typer.Option(help="Recorded with the alias move.")] = "manual rollback",
    triggered_by: Annotated[str, typer.Option(help="Recorded with the alias move.")] = "manual",
    tracking_uri: TrackingUri = None,
) -> None:
    """Move the champion back to the previous champion (or --to-version) in the registry."""
    from tradewind.stages.rollback import rollback as stage

    client, _ = _client(tracking_uri)
    _emit(_run(lambda: stage(dataset, client=client, to_version=to_version, reason=reason, triggered_by=triggered_by)))


@app.command()
def retention(
    zone: Annotated[
        str, typer.Option(help="inference_log, drift_reports, validation_reports, quarantine or checkpoints.")
    ],
    dataset: Annotated[str | None, typer.Option(help="One data set (default: every data set of the profile).")] = None,
    root: Root = None,
    log_root: Annotated[
        str | None, typer.Option(help="Inference log root (default: serving.inference_log_root, else the lake).")
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Remove what a zone kept longer than the profile's retention; print what went (path, age, bytes)."""
    from tradewind.stages.retention import retention as stage

    client = _client(tracking_uri)[0] if zone == "checkpoints" else None
    _emit(_run(lambda: stage(zone, dataset=dataset, root=root, log_root=log_root, client=client)))


# Libraries whose INFO lines would bury the stage's own in a task log (GX logs ~200 per validation).
QUIET_LOGGERS = ("great_expectations", "alembic")


def _not_chatter(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.name.startswith(QUIET_LOGGERS)


def configure_logging() -> None:
    """The stage's progress lines on stderr at INFO; the chatty libraries' from WARNING up.

    A filter on the handler, not logger levels: a library may set its own loggers' levels when imported.
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_chatter)


def main() -> None:
    configure_logging()
    app()
