"""One scheduled drift check, end to end: what the drift DAG's task (and any other caller) runs.

:func:`run_check` reads the window of the inference log that the champion served, compares it with
the champion's reference, checks performance when labels for the window's days are in the lake, and
writes the Evidently HTML report and the JSON summary into ``report_folder``. It returns a
:class:`CheckOutcome` whose :meth:`~CheckOutcome.event_extra` is what a ``drift/<dataset>`` Asset
event carries. A check that cannot judge (no inference log yet, a window below the minimum size, no
reference) returns a skipped outcome with the reason; nothing raises for those.

Labels: the spec's id and label columns of the validated partitions of the days the window's events
happened on, by the spec's timestamp (the synthetic source, like many real feeds, labels an event in
the partition of its day); without an event time, the days the window was served on. Days without a
validated partition are simply not labelled yet.

Airflow-free: the Airflow layer resolves the champion, its reference and the folders, and passes
them in as plain values.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tradewind.data.spec import DatasetSpec
from tradewind.monitoring.config import DriftConfig, drift_config
from tradewind.monitoring.drift import DriftResult, check_drift, write_report
from tradewind.monitoring.performance import PerformanceResult, check_performance
from tradewind.monitoring.window import Window, prediction_columns, read_window
from tradewind.storage import LakePath, as_path, atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class CheckOutcome:
    """A drift check's result, its optional performance check and where its report went."""

    drift: DriftResult
    performance: PerformanceResult | None
    model_version: str | None
    # The newest day (ISO date) of the window's events by the spec's timestamp: a retrain on drift
    # covers the days the drifted traffic came from. None when the window is empty or has no timestamp.
    data_until: str | None = None

    @property
    def status(self) -> str:
        """``drift`` when the data or the performance drifted, ``no_drift``, or ``skipped``."""
        if self.drifted:
            return "drift"
        return "skipped" if self.drift.skipped else "no_drift"

    @property
    def drifted(self) -> bool:
        return self.drift.drifted or bool(self.performance and self.performance.drifted)

    @property
    def reason(self) -> str | None:
        return self.drift.reason

    def table(self) -> str:
        """The per-feature table and, when labels were checked, the performance lines."""
        text = self.drift.table()
        if self.performance is not None:
            text += "\n" + self.performance.table()
        return text

    def summary(self) -> dict[str, Any]:
        """The JSON summary: the drift result's, with the performance check and the event's facts."""
        out = self.drift.to_dict()
        out["status"], out["drifted"] = self.status, self.drifted
        out["data_drift"] = self.drift.drifted
        out["performance"] = None if self.performance is None else self.performance.to_dict()
        out["event"] = self.event_extra()
        return out

    def event_extra(self) -> dict[str, Any]:
        """What a ``drift/<dataset>`` Asset event carries: drifted features, share, window, report."""
        extra = self.drift.event_extra()
        extra["status"] = self.status
        extra["drifted"] = self.drifted
        extra["model_version"] = self.model_version
        extra["data_until"] = self.data_until
        if self.performance is not None:
            extra["performance_drift"] = self.performance.drifted
            extra["drifted_metrics"] = self.performance.drifted_metrics
        return extra


def labels_for(spec: DatasetSpec, lake_root: str | LakePath, window: Window) -> pd.DataFrame | None:
    """The id and label of the validated partitions of the days ``window``'s events happened on (None:
    none of them is there yet)."""
    from tradewind.data.validated import available_dates, load_validated

    event_days = _event_days(spec, window)
    if event_days:  # each day checked on its own: event days may be far apart
        days = [d for d in sorted(event_days) if available_dates(spec, lake_root, until=d, window_days=1)]
    else:  # no event time: the days it was served on
        first, last = window.start.date(), (window.end - dt.timedelta(microseconds=1)).date()
        days = available_dates(spec, lake_root, until=last, window_days=(last - first).days + 1)
    if not days:
        return None
    frame = load_validated(spec, lake_root, days)
    return frame[[spec.id, spec.label]]


def _event_days(spec: DatasetSpec, window: Window) -> set[dt.date]:
    """The UTC days of the window's events by the spec's timestamp (empty: no event times)."""
    column = spec.timestamp
    if not column or column not in window.frame.columns or window.frame.empty:
        return set()
    days = pd.to_datetime(window.frame[column], utc=True).dropna().dt.normalize().unique()
    return {day.date() for day in days}


def _newest_day(spec: DatasetSpec, window: Window) -> str | None:
    days = _event_days(spec, window)
    return max(days).isoformat() if days else None


def run_check(
    spec: DatasetSpec,
    reference: pd.DataFrame,
    *,
    log_root: str | LakePath,
    lake_root: str | LakePath,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    hours: float | None = None,
    model_version: str | None,
    report_folder: str | LakePath | None,
    champion_metrics: Mapping[str, float | None] | None = None,
    config: DriftConfig | None = None,
    extra: Mapping[str, Any] | None = None,
) -> CheckOutcome:
    """Check ``[start, end)`` (or the ``hours`` before ``end``, default now) of the inference log under
    ``log_root``: the rows that ``model_version`` served (None: every version's).

    ``champion_metrics``: the champion's validation metrics (``pr_auc``, ``roc_auc``); with them, and
    labels in the lake for the window's days, performance drift is checked too. ``report_folder``:
    where the HTML report and JSON summary go (None: not written).
    """
    config = config or drift_config(spec)
    window = read_window(log_root, spec, start=start, end=end, hours=hours, model_version=model_version, config=config)
    info = {"model_version": model_version, **dict(extra or {})}
    result = check_drift(reference, window, spec, config, extra=info)
    performance = None
    delay = config.performance.label_delay_hours
    if champion_metrics and (delay or not result.skipped):
        scored = window
        if delay:  # the traffic whose labels are in by now: the same span, delay hours earlier
            shift = dt.timedelta(hours=delay)
            needs = [spec.id, *([spec.timestamp] if spec.timestamp else []), *prediction_columns(spec, config)]
            needs.append("served_at")
            scored = read_window(
                log_root, spec, start=window.start - shift, end=window.end - shift, model_version=model_version,
                columns=needs, config=config,
            )  # fmt: skip
        labels = labels_for(spec, lake_root, scored) if scored.rows_kept else None
        if labels is None:
            log.info(
                "Performance check %s: no validated labels yet for the days of the traffic served %s .. %s",
                spec.name, scored.start.isoformat(), scored.end.isoformat(),
            )  # fmt: skip
        else:
            where = {"window": {"start": scored.start.isoformat(), "end": scored.end.isoformat(),
                                "rows_kept": scored.rows_kept}, "label_delay_hours": delay}  # fmt: skip
            performance = check_performance(scored, labels, spec, champion_metrics, config, extra={**info, **where})
    outcome = CheckOutcome(
        drift=result, performance=performance, model_version=model_version, data_until=_newest_day(spec, window)
    )
    if report_folder is not None:
        files = write_report(result, result.snapshot, report_folder, performance=performance)
        # The file holds the outcome's summary, whose status counts performance drift too (the paths
        # it names are the ones write_report just set).
        atomic_write_text(as_path(files.json), json.dumps(outcome.summary(), indent=2, sort_keys=True, default=str))
    return outcome
