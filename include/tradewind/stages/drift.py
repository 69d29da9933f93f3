"""Stage ``drift``: check the champion's served traffic against its reference, record the verdict.

1. Find the champion in the registry and fetch the reference logged with its version.
2. Run the check (:func:`tradewind.monitoring.run.run_check`) on the window of the inference log
   the champion served: Evidently per feature, prediction drift, and performance drift once labels
   for the window's days are in the lake. The HTML report and the JSON summary go to
   ``{lake}/reports/drift/<dataset>/v<version>/<checked at>/``.
3. Unless the check was skipped, log the report to the champion's MLflow run (``drift/<checked at>/``)
   and tag the version with the verdict (``tradewind.drift``).

The outcome is what a ``drift/<dataset>`` Asset event carries (status, drifted features, share,
window, report). A check that cannot judge (no champion, no reference, no log yet, too few rows)
returns ``status: skipped`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from tradewind.settings import get_settings
from tradewind.stages.outcome import StageInputError

log = logging.getLogger(__name__)

DRIFT_TAG = "tradewind.drift"


def roots(lake_root: str | None, log_root: str | None) -> tuple[str, str]:
    """The lake (labels, reports) and the inference log's root: given, else the profile's."""
    settings = get_settings()
    lake = (lake_root or settings.storage.root).rstrip("/")
    return lake, log_root or settings.serving.inference_log_root or lake


def skipped(dataset: str, reason: str, version: str | None = None) -> dict[str, Any]:
    log.info("skipped: %s", reason)
    return {"dataset": dataset, "status": "skipped", "drifted": False, "reason": reason, "model_version": version}


def check_champion(
    dataset: str,
    *,
    client: Any,
    tracking_uri: str,
    end: dt.datetime,
    window_hours: float,
    lake_root: str | None = None,
    log_root: str | None = None,
    stamp: str | None = None,
) -> dict[str, Any]:
    """One drift check of ``dataset``'s champion over the ``window_hours`` before ``end``."""
    from tradewind.monitoring.performance import champion_figures
    from tradewind.monitoring.reference import load_reference
    from tradewind.monitoring.run import run_check
    from tradewind.monitoring.window import window_bounds
    from tradewind.registry.aliases import CHAMPION, current
    from tradewind.registry.loading import fetch_version_reference, version_metrics

    settings = get_settings()
    spec = settings.spec(dataset)
    try:
        start_at, end_at = window_bounds(None, end, window_hours)
    except ValueError as err:
        raise StageInputError(str(err)) from err
    version = current(client, dataset, CHAMPION)
    if version is None:
        return skipped(dataset, f"no champion of {dataset} yet: train one first (train_{dataset})")
    lake, log_at = roots(lake_root, log_root)
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = f"{lake}/reports/drift/{dataset}/v{version}/{stamp}"
    metrics = version_metrics(client, dataset, version)
    with tempfile.TemporaryDirectory(prefix="tradewind-drift-") as tmp:
        try:
            reference_path = fetch_version_reference(client, tracking_uri, dataset, version, tmp)
        except FileNotFoundError as err:
            return skipped(dataset, str(err), version)
        outcome = run_check(
            spec,
            load_reference(reference_path),
            log_root=log_at,
            lake_root=lake,
            start=start_at,
            end=end_at,
            model_version=version,
            report_folder=report,
            champion_metrics=champion_figures(spec, metrics),
            extra={"reference_path": f"models:/{dataset}/{version}/reference"},
        )
    log.info("%s", outcome.table())
    event: dict[str, Any] = dict(outcome.event_extra())
    event["report_folder"] = report
    if outcome.status == "skipped":
        log.info("skipped: %s", outcome.reason)
    else:
        log_to_registry(client, dataset, version, report, stamp, event)
    return event


def log_to_registry(client: Any, dataset: str, version: str, report: str, stamp: str, event: dict[str, Any]) -> None:
    """The report files on the champion's run (``drift/<stamp>/``), the verdict as a version tag."""
    from tradewind.storage import as_path

    run_id = client.get_model_version(dataset, version).run_id
    folder = as_path(report)
    with tempfile.TemporaryDirectory(prefix="tradewind-drift-report-") as tmp:
        for item in folder.iterdir():
            (Path(tmp) / item.name).write_bytes(item.read_bytes())
        client.log_artifacts(run_id, tmp, artifact_path=f"drift/{stamp}")
    verdict = {k: event.get(k) for k in ("status", "share", "drifted_features", "report", "window")}
    client.set_model_version_tag(dataset, version, DRIFT_TAG, json.dumps(verdict, default=str))
    log.info("Drift report logged to run %s (drift/%s) of %s version %s", run_id, stamp, dataset, version)


def check_reference(
    dataset: str,
    reference: str,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    hours: float | None = None,
    model_version: str | None = None,
    log_root: str | None = None,
    lake_root: str | None = None,
    champion_metrics: dict[str, Any] | None = None,
    out: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A window of the inference log against a stored reference, without the registry: the check's
    JSON summary and its per-feature table. ``hours`` defaults to the spec's ``window_hours``."""
    from tradewind.monitoring.config import drift_config
    from tradewind.monitoring.reference import load_reference
    from tradewind.monitoring.run import run_check
    from tradewind.monitoring.window import window_bounds

    settings = get_settings()
    try:
        spec = settings.spec(dataset)
        if hours is None and start is None:
            hours = drift_config(spec).window_hours
        start_at, end_at = window_bounds(start, end, hours)
        ref = load_reference(reference)
    except (ValueError, FileNotFoundError) as err:
        raise StageInputError(str(err)) from err
    lake, log_at = roots(lake_root, log_root)
    outcome = run_check(
        spec,
        ref,
        log_root=log_at,
        lake_root=lake,
        start=start_at,
        end=end_at,
        model_version=model_version,
        report_folder=out,
        champion_metrics=champion_metrics,
        extra={"reference_path": reference},
    )
    return outcome.summary(), outcome.table()
