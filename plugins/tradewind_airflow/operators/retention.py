"""The operator that applies one zone's retention (``tradewind.stages.retention``) in the worker.

It stays thin: the lake (and the inference log's root) as ``ObjectStoragePath`` bound to the lake's
connection, so the same sweep runs on ``file://``, ``s3://`` and ``gs://``; the model registry's
client for the checkpoints zone; the stage's summary (every removed path, its age and bytes) to the
log and to XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from tradewind.stages.outcome import StageInputError
from tradewind_airflow.hooks.lake import DataLakeHook


class RetentionSweepOperator(BaseOperator):
    """Remove what ``zone`` kept longer than the profile's ``retention:`` allows, for every data set.

    :param zone: ``inference_log``, ``drift_reports``, ``validation_reports``, ``quarantine`` or ``checkpoints``.
    """

    template_fields: Sequence[str] = ("zone",)
    ui_color = "#f2f3f4"

    def __init__(self, *, zone: str, lake_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zone = zone
        self.lake_conn_id = lake_conn_id

    @cached_property
    def hook(self) -> DataLakeHook:
        return DataLakeHook(lake_conn_id=self.lake_conn_id)

    def _log_root(self) -> ObjectStoragePath | None:
        from tradewind.settings import get_settings

        root = get_settings().serving.inference_log_root
        return ObjectStoragePath(root, conn_id=self.hook.lake_conn_id) if root else None

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.stages.retention import retention
        from tradewind_airflow.hooks.mlflow import MlflowRegistryHook

        client = MlflowRegistryHook().get_conn() if self.zone == "checkpoints" else None
        try:
            summary = retention(self.zone, root=self.hook.root, log_root=self._log_root(), client=client)
        except StageInputError as err:
            raise AirflowFailException(str(err)) from err
        for sweep in summary["sweeps"]:
            for gone in sweep["removed"]:
                self.log.info("Removed %s (%.1f days old, %d bytes)", gone["path"], gone["age_days"], gone["bytes"])
            counts = len(sweep["removed"]), sweep["kept"], len(sweep["protected"])
            self.log.info(
                "%s of %s: %d removed, %d kept, %d protected (retention %s days)",
                self.zone, sweep["dataset"], *counts, sweep["days"],
            )  # fmt: skip
        return summary
