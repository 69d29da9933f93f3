"""Operators that land and validate one partition of a data set.

They stay thin: resolve the date and the lake, call the Airflow-free core, and attach the core's
lineage record to the Asset event they emit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from tradewind.data.knobs import DRIFT_KINDS  # noqa: F401  (the ingest form lists them)
from tradewind.settings import get_settings
from tradewind_airflow.hooks.lake import DataLakeHook


def partition_date(value: str | None, context: Context) -> str:
    """The partition a run works on: an explicit date, else the run's logical date.

    A manual run with neither takes the day before it was triggered (the last complete day).
    """
    if value:
        return str(value)[:10]
    logical = context.get("logical_date")
    if logical is not None:
        return logical.date().isoformat()
    run_after = context["dag_run"].run_after
    return (run_after - dt.timedelta(days=1)).date().isoformat()


def airflow_ids(context: Context) -> dict[str, Any]:
    ti = context["ti"]
    return {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "try_number": ti.try_number}


def _names(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.strip("[]").replace("'", "").split(",") if v.strip()]
    return list(value)


class _LakeOperator(BaseOperator):
    def __init__(self, *, dataset: str, lake_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.lake_conn_id = lake_conn_id

    @cached_property
    def hook(self) -> DataLakeHook:
        return DataLakeHook(lake_conn_id=self.lake_conn_id)

    def _emit(self, context: Context, extra: dict[str, Any]) -> None:
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = extra


class PartitionIngestOperator(_LakeOperator):
    """Land one day of a data set under ``raw/<dataset>/date=YYYY-MM-DD/`` and emit the raw Asset.

    :param dataset: name of a dataset spec under include/config/datasets.
    :param partition_date: ``YYYY-MM-DD``; empty means the run's logical date.
    :param source_uri: override of a ``files`` source's URI (``{date}`` is filled in).
    :param corruptions: synthetic source only: corruptions to inject (for tests and the demo).
    :param drift: synthetic source only: one of ``DRIFT_KINDS``.
    """

    template_fields: Sequence[str] = ("dataset", "partition_date", "source_uri", "corruptions", "drift")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        partition_date: str | None = "{{ params.date or '' }}",
        source_uri: str | None = "{{ params.source or '' }}",
        corruptions: str | Sequence[str] | None = "{{ (params.corruptions or []) | join(',') }}",
        drift: str | None = "{{ params.drift or 'none' }}",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.partition_date = partition_date
        self.source_uri = source_uri
        self.corruptions = corruptions
        self.drift = drift

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.data.ingest import ingest_partition
        from tradewind.data.knobs import drift_knobs

        try:
            drift = drift_knobs(self.drift)
        except ValueError as err:
            raise AirflowFailException(str(err)) from None
        day = partition_date(self.partition_date, context)
        spec = get_settings().spec(self.dataset)
        try:
            lineage = ingest_partition(
                spec,
                self.hook.root,
                day,
                source_uri=self.source_uri or None,
                drift=drift,
                corruptions=_names(self.corruptions),
            )
        except ValueError as err:  # bad date, unknown corruption, knob on a files source
            raise AirflowFailException(str(err)) from err
        lineage["airflow"] = airflow_ids(context)
        self._emit(context, lineage)
        return lineage


class PartitionValidateOperator(_LakeOperator):
    """Validate one raw partition with its GX suite.

    Pass: the validated partition is written and the validated Asset is emitted with the raw
    lineage plus the validation result id. Fail: the batch is quarantined with its report, no
    Asset event is emitted and the task fails (without retries: the data will not change) with a
    message naming every failed expectation.

    :param partition: the raw Asset event's extra (a dict), or a ``YYYY-MM-DD`` date.
    """

    template_fields: Sequence[str] = ("dataset", "partition")
    ui_color = "#d5f5e3"

    def __init__(self, *, partition: dict[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.partition = partition

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.validation.runner import PartitionNotFound, validate_partition

        raw = self.partition if isinstance(self.partition, dict) else {}
        day = raw.get("partition_date") or partition_date(str(self.partition or ""), context)
        spec = get_settings().spec(self.dataset)
        try:
            outcome = validate_partition(spec, self.hook.root, day, raw_lineage=raw)
        except PartitionNotFound as err:
            raise AirflowFailException(str(err)) from err
        context["ti"].xcom_push(key="outcome", value=outcome.to_dict())
        if not outcome.success:
            raise AirflowFailException(outcome.message())
        extra = {**outcome.lineage, "ingested_by": raw.get("airflow"), "airflow": airflow_ids(context)}
        self._emit(context, extra)
        return extra
