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
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import Context

from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.cli import StageSubprocessMixin


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

    def arguments(self, context: Context) -> list[str]:
        """The stage's arguments: the same for the subprocess and a pod."""
        lake = DataLakeHook()
        return [
            "drift",
            "--dataset", self.dataset,
            "--end", self.window_end(context).isoformat(),
            "--hours", str(float(self.window_hours)),
            "--root", lake.root_uri,
        ]  # fmt: skip

    def execute(self, context: Context) -> dict[str, Any]:
        env = {**DataLakeHook().subprocess_env(), "MLFLOW_TRACKING_URI": self.hook.tracking_uri}
        return self.finish(self.run_stage(self.arguments(context), "drift check", env=env))

    def finish(self, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] == "skipped":
            self.log.info("skipped: %s", event.get("reason"))
        return event

    def window_end(self, context: Context) -> dt.datetime:
        if self.end:
            end = dt.datetime.fromisoformat(str(self.end))
            return end if end.tzinfo else end.replace(tzinfo=dt.UTC)
        interval_end = context.get("data_interval_end")
        run_type = getattr(context.get("dag_run"), "run_type", None)
        # A scheduled or backfill run checks the hour it covers; a manual one checks up to now.
        if interval_end is not None and run_type in ("scheduled", "backfill"):  # DagRunType is a str enum
            return interval_end
        return dt.datetime.now(dt.UTC)
