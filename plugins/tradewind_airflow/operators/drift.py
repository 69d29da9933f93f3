"""The scheduled drift check of the champion: a thin operator over ``python -m tradewind drift``.

``DriftCheckOperator`` runs the ``drift`` stage as a subprocess of the worker (Evidently's memory is
the subprocess's) with the registry's tracking URI and the lake's credentials in its environment.
The stage finds the champion, checks the window of the inference log it served against its
reference, writes the report (Evidently HTML and JSON summary) to
``{lake}/reports/drift/<dataset>/v<version>/<checked at>/`` and, unless the check was skipped, logs it
to the champion's MLflow run with a ``tradewind.drift`` tag on the version.

The task returns the facts a ``drift/<dataset>`` Asset event carries (status, drifted features,
share, window, report path). A check that cannot judge (no champion, no reference, no inference log
yet, a window below the minimum size) succeeds with ``status: skipped`` and the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import Context

from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.cli import StageSubprocessMixin

log = logging.getLogger(__name__)


def window_end(end: str | None, context: Context) -> dt.datetime:
    """The check's window end: ``end`` when given; a scheduled or backfill run's data interval end; else now."""
    if end:
        moment = dt.datetime.fromisoformat(str(end))
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    interval_end = context.get("data_interval_end")
    run_type = getattr(context.get("dag_run"), "run_type", None)
    # A scheduled or backfill run checks the hour it covers; a manual one checks up to now.
    if interval_end is not None and run_type in ("scheduled", "backfill"):  # DagRunType is a str enum
        return interval_end
    return dt.datetime.now(dt.UTC)


def drift_arguments(dataset: str, window_hours: float | str, end: str | None, context: Context) -> list[str]:
    """The ``drift`` stage's arguments: the same for the subprocess and a pod."""
    return [
        "drift",
        "--dataset", dataset,
        "--end", window_end(end, context).isoformat(),
        "--hours", str(float(window_hours)),
        "--root", DataLakeHook().root_uri,
    ]  # fmt: skip


def finish_drift(event: dict[str, Any]) -> dict[str, Any]:
    """The event's facts, as the task's XCom (``announce_drift`` emits the Asset on drift)."""
    if event["status"] == "skipped":
        log.info("skipped: %s", event.get("reason"))
    return event


class DriftCheckOperator(StageSubprocessMixin):
    """Check the drift of the inference log the champion served against the champion's reference.

    :param dataset: name of a dataset spec.
    :param window_hours: hours of the inference log before the window's end (templated).
    :param end: the window's end, ISO 8601 (templated); empty: a scheduled or backfill run's data interval
        end, else now.
    """

    template_fields: Sequence[str] = ("dataset", "window_hours", "end")
    ui_color = "#fadbd8"

    def __init__(
        self,
        *,
        dataset: str,
        window_hours: float | str,
        end: str | None = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.window_hours = window_hours
        self.end = end
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def hook(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        env = {**DataLakeHook().subprocess_env(), "MLFLOW_TRACKING_URI": self.hook.tracking_uri}
        arguments = drift_arguments(self.dataset, self.window_hours, self.end, context)
        return finish_drift(self.run_stage(arguments, "drift check", env=env))

    def window_end(self, context: Context) -> dt.datetime:
        return window_end(self.end, context)
