"""``python -m tradewind.monitoring check``: one drift check from the shell, a subprocess or a pod.

Reads the window of the inference log (bounded, seeded sampling), compares it with a stored reference,
checks performance when the champion's metrics are given and labels for the window's days are in the
lake, writes the Evidently HTML report and the JSON summary to ``--out`` when given, logs the
per-feature table to stderr and prints the summary as one JSON document on stdout. The drift DAG runs
this as a subprocess of the worker (the heavy-step rule: Evidently's memory is the subprocess's).

Exit codes: 0 the check ran (drifted or not, or skipped with a reason); 2 bad input (unknown dataset,
missing reference, bad window); 1 the check itself failed (a traceback on stderr; worth a retry).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Annotated, Any, NoReturn

import typer

from tradewind.data.spec import SpecError
from tradewind.monitoring.config import drift_config
from tradewind.monitoring.reference import load_reference
from tradewind.monitoring.run import run_check
from tradewind.monitoring.window import window_bounds
from tradewind.settings import get_settings

app = typer.Typer(help="Drift checks of Tradewind's inference log.", no_args_is_help=True, add_completion=False)
BAD_INPUT = 2


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


def _when(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: '{text}' is not an ISO 8601 date-time (e.g. 2026-01-08T12:00)")


def _metrics(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        _fail(f"--champion-metrics: not JSON ({err})")
    if not isinstance(value, dict):
        _fail('--champion-metrics: expected a JSON object such as {"pr_auc": 0.3, "roc_auc": 0.9}')
    return value


@app.callback()
def main() -> None:
    """Drift checks of Tradewind's inference log."""


@app.command()
def check(
    reference: Annotated[str, typer.Option(help="The champion's reference.parquet (any fsspec URI or path).")],
    dataset: Annotated[str, typer.Option(help="Dataset spec name (include/config/datasets).")] = "transactions",
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
        str | None, typer.Option(help='The champion\'s validation metrics as JSON, e.g. {"pr_auc": 0.3}.')
    ] = None,
    out: Annotated[str | None, typer.Option(help="Folder for the HTML report and the JSON summary.")] = None,
) -> None:
    """Check the drift of a window of the inference log against a reference; print the summary as JSON."""
    begin, until, metrics = _when(start, "--start"), _when(end, "--end"), _metrics(champion_metrics)
    # Bad input exits 2; anything that fails once the check runs is a failure (exit 1, traceback).
    try:
        settings = get_settings()
        spec = settings.spec(dataset)
        if hours is None and begin is None:
            hours = drift_config(spec).window_hours
        start_at, end_at = window_bounds(begin, until, hours)
        ref = load_reference(reference)
    except (SpecError, ValueError, FileNotFoundError) as err:
        _fail(str(err))
    outcome = run_check(
        spec,
        ref,
        log_root=root or settings.serving.inference_log_root or settings.storage.root,
        lake_root=lake_root or settings.storage.root,
        start=start_at,
        end=end_at,
        model_version=model_version,
        report_folder=out,
        champion_metrics=metrics,
        extra={"reference_path": reference},
    )
    typer.echo(outcome.table(), err=True)
    typer.echo(json.dumps(outcome.summary(), indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    app()
