"""The scheduled drift check of the champion: a thin operator over ``python -m tradewind.monitoring``.

``DriftCheckOperator`` finds the champion in the registry (``MlflowRegistryHook``), fetches the
reference logged with its version, and runs the check CLI as a subprocess of the worker (the heavy
step: Evidently's memory is the subprocess's) on the window of the inference log that the champion
served. The report (Evidently HTML and JSON summary) goes to
``{lake}/reports/drift/<dataset>/v<version>/<checked at>/`` and, unless the check was skipped, is
logged to the champion's MLflow run under ``drift/<checked at>/``; the version gets a
``tradewind.drift`` tag with the latest verdict. The per-feature table is in the task log.

The task returns the facts a ``drift/<dataset>`` Asset event carries (status, drifted features,
share, window, report path). A check that cannot judge (no champion, no reference, no inference log
yet, a window below the minimum size) succeeds with ``status: skipped`` and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import Context

from tradewind.settings import get_settings
from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.cli import CliSubprocessMixin

DRIFT_TAG = "tradewind.drift"
# The champion's validation metrics that performance drift compares with.
VALIDATION_METRICS = ("pr_auc", "roc_auc")


class DriftCheckOperator(CliSubprocessMixin):
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
        from tradewind.registry.aliases import CHAMPION, current
        from tradewind.registry.loading import fetch_version_reference, version_metrics

        settings = get_settings()
        client = self.hook.get_conn()
        version = current(client, self.dataset, CHAMPION)
        if version is None:
            return self._skipped(f"no champion of {self.dataset} yet: train one first (train_{self.dataset})")
        end = self._window_end(context)
        lake = DataLakeHook().root_uri.rstrip("/")
        log_root = settings.serving.inference_log_root or lake
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        report = f"{lake}/reports/drift/{self.dataset}/v{version}/{stamp}"
        metrics = version_metrics(client, self.dataset, version)
        with tempfile.TemporaryDirectory(prefix="tradewind-drift-") as tmp:
            try:
                reference = fetch_version_reference(client, self.hook.tracking_uri, self.dataset, version, tmp)
            except FileNotFoundError as err:
                return self._skipped(str(err), version)
            summary = self.run_cli(
                "tradewind.monitoring",
                [
                    "check",
                    "--dataset", self.dataset,
                    "--reference", str(reference),
                    "--end", end.isoformat(),
                    "--hours", str(float(self.window_hours)),
                    "--model-version", version,
                    "--root", log_root,
                    "--lake-root", lake,
                    "--champion-metrics", json.dumps({k: metrics[k] for k in VALIDATION_METRICS if k in metrics}),
                    "--out", report,
                ],
                "drift check",
            )  # fmt: skip
        event: dict[str, Any] = dict(summary["event"])
        event["report_folder"] = report
        if summary["status"] == "skipped":
            self.log.info("skipped: %s", summary.get("reason"))
        else:
            self._log_to_mlflow(client, version, report, stamp, event)
        return event

    def _window_end(self, context: Context) -> dt.datetime:
        if self.end:
            end = dt.datetime.fromisoformat(str(self.end))
            return end if end.tzinfo else end.replace(tzinfo=dt.UTC)
        interval_end = context.get("data_interval_end")
        run_type = getattr(context.get("dag_run"), "run_type", None)
        # A scheduled or backfill run checks the hour it covers; a manual one checks up to now.
        if interval_end is not None and run_type in ("scheduled", "backfill"):  # DagRunType is a str enum
            return interval_end
        return dt.datetime.now(dt.UTC)

    def _skipped(self, reason: str, version: str | None = None) -> dict[str, Any]:
        self.log.info("skipped: %s", reason)
        return {
            "dataset": self.dataset,
            "status": "skipped",
            "drifted": False,
            "reason": reason,
            "model_version": version,
        }

    def _log_to_mlflow(self, client: Any, version: str, report: str, stamp: str, event: dict[str, Any]) -> None:
        """The report files on the champion's run (``drift/<stamp>/``), the verdict as a version tag."""
        from tradewind.storage import as_path

        run_id = client.get_model_version(self.dataset, version).run_id
        folder = as_path(report)
        with tempfile.TemporaryDirectory(prefix="tradewind-drift-report-") as tmp:
            for item in folder.iterdir():
                (Path(tmp) / item.name).write_bytes(item.read_bytes())
            client.log_artifacts(run_id, tmp, artifact_path=f"drift/{stamp}")
        verdict = {k: event.get(k) for k in ("status", "share", "drifted_features", "report", "window")}
        client.set_model_version_tag(self.dataset, version, DRIFT_TAG, json.dumps(verdict, default=str))
        self.log.info("Drift report logged to run %s (drift/%s) of %s version %s", run_id, stamp, self.dataset, version)
