"""Operators that land and validate one partition of a data set.

They stay thin: resolve the date and the lake, call a stage (``ingest`` in process, ``validate`` as
the CLI in a subprocess: Great Expectations' memory is the subprocess's), and attach the stage's
lineage record to the Asset event they emit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tradewind.data.knobs import DRIFT_KINDS  # noqa: F401  (the ingest form lists them)
from tradewind.stages.outcome import StageInputError
from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.operators.cli import StageSubprocessMixin
from tradewind_airflow.operators.context import airflow_ids, emit, form, partition_date

log = logging.getLogger(__name__)


def validate_arguments(
    dataset: str, partition: dict[str, Any] | str, root_uri: str, context: Context
) -> tuple[list[str], dict[str, Any]]:
    """The ``validate`` stage's arguments (the same for the subprocess and a pod) and the raw lineage."""
    raw = partition if isinstance(partition, dict) else {}
    day = raw.get("partition_date") or partition_date(str(partition or ""), context)
    args = ["validate", "--dataset", dataset, "--date", day, "--root", root_uri]
    return [*args, "--raw-lineage", json.dumps(raw, default=str)], raw


def finish_validation(
    context: Context, outlets: list[Any], outcome: dict[str, Any], raw: dict[str, Any]
) -> dict[str, Any]:
    """The outcome to XCom; on a pass the validated Asset event, on a quarantine a failed task (no retry).

    A pass that replaced an earlier delivery of the day says so in the event (``replaces``: the earlier
    raw content hash and result id). A quarantine that withdrew the day's validated partition says so in
    its failure message and in the outcome's ``superseded`` (Airflow emits no Asset event for a failed
    task; every reader of validated data skips the day from then on).
    """
    context["ti"].xcom_push(key="outcome", value=outcome)
    if not outcome["success"]:
        raise AirflowFailException(outcome["message"])
    extra = {**outcome["lineage"], "ingested_by": raw.get("airflow"), "airflow": airflow_ids(context)}
    emit(context, outlets, extra)
    return extra


def withdrawn_days(outcomes: Any) -> list[dict[str, Any]]:
    """The validated days a run's validations withdrew: one record per quarantined re-delivery."""
    days = []
    for outcome in outcomes if isinstance(outcomes, list) else [outcomes]:
        if isinstance(outcome, dict) and outcome.get("superseded"):
            days.append(
                {
                    **outcome["superseded"],
                    "partition_date": outcome["partition_date"],
                    "validation_result_id": outcome["result_id"],
                    "quarantine_uri": outcome.get("quarantine_uri"),
                }
            )
    return sorted(days, key=lambda d: str(d["partition_date"]))


def report_withdrawals(context: Context, dataset: str, outlet: Any, task_id: str) -> list[dict[str, Any]]:
    """Emit ``outlet``'s event naming every validated day ``task_id``'s mapped validations withdrew.

    Skips (no event) when none was withdrawn. The quarantining task itself has failed by then, and Airflow
    emits no Asset event for a failed task: this task runs after it whatever its state.
    """
    days = withdrawn_days(context["ti"].xcom_pull(task_ids=task_id, key="outcome"))
    if not days:
        raise AirflowSkipException("no validated day was withdrawn by this run")
    for day in days:
        log.warning(
            "Withdrew %s %s (%s): quarantined as %s",
            dataset,
            day["partition_date"],
            day["partition_uri"],
            day["validation_result_id"],
        )
    emit(context, [outlet], {"dataset": dataset, "withdrawn": days, "airflow": airflow_ids(context)})
    return days


class PartitionIngestOperator(BaseOperator):
    """Land one day of a data set under ``raw/<dataset>/date=YYYY-MM-DD/`` and emit the raw Asset.

    Fields left as None take the run's form (``date``, ``source``, ``corruptions``, ``drift``).

    :param dataset: name of a dataset spec under include/config/datasets.
    :param partition_date: ``YYYY-MM-DD``; empty means the run's logical date.
    :param source_uri: override of a ``files`` source's URI (``{date}`` is filled in); it must lie under
        the profile's allowed source roots (else the task fails without retries, nothing read).
    :param corruptions: synthetic source only: corruptions to inject (for tests and the demo).
    :param drift: synthetic source only: one of ``DRIFT_KINDS``.
    """

    template_fields: Sequence[str] = ("dataset", "partition_date", "source_uri", "drift")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        dataset: str,
        partition_date: str | None = None,
        source_uri: str | None = None,
        corruptions: Sequence[str] | None = None,
        drift: str | None = None,
        lake_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.partition_date = partition_date
        self.source_uri = source_uri
        self.corruptions = corruptions
        self.drift = drift
        self.lake_conn_id = lake_conn_id

    @cached_property
    def hook(self) -> DataLakeHook:
        return DataLakeHook(lake_conn_id=self.lake_conn_id)

    def _source_path(self, source: str) -> ObjectStoragePath:
        """A source URI read through the profile's sources connection (default: the lake's)."""
        from tradewind.settings import get_settings

        return ObjectStoragePath(source, conn_id=get_settings().sources.conn_id or self.hook.lake_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.stages.ingest import ingest

        params = form(context)
        corruptions = self.corruptions if self.corruptions is not None else params.get("corruptions") or []
        try:
            lineage = ingest(
                self.dataset,
                partition_date(self.partition_date or params.get("date"), context),
                root=self.hook.root,
                source_uri=self.source_uri or params.get("source") or None,
                drift=self.drift or params.get("drift") or "none",
                corruptions=list(corruptions),
                open_source=self._source_path,
            )
        except StageInputError as err:  # bad date, unknown corruption, a source outside the allowed roots
            raise AirflowFailException(str(err)) from err
        lineage["airflow"] = airflow_ids(context)
        emit(context, self.outlets, lineage)
        return lineage


class PartitionValidateOperator(StageSubprocessMixin):
    """Validate one raw partition with its GX suite (``python -m tradewind validate`` in a subprocess).

    Pass: the validated partition is written and the validated Asset is emitted with the raw
    lineage plus the validation result id. Fail (exit 3): the batch is quarantined with its report, no
    Asset event is emitted and the task fails (without retries: the data will not change) with a
    message naming every failed expectation; an earlier validated partition of the day is withdrawn.
    An internal error (exit 1: the lake unreachable) fails the task with retries; bad input (exit 2)
    without.

    :param partition: the raw Asset event's extra (a dict), or a ``YYYY-MM-DD`` date.
    """

    template_fields: Sequence[str] = ("dataset", "partition")
    ui_color = "#d5f5e3"

    def __init__(
        self, *, dataset: str, partition: dict[str, Any] | str, lake_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.partition = partition
        self.lake_conn_id = lake_conn_id

    @cached_property
    def hook(self) -> DataLakeHook:
        return DataLakeHook(lake_conn_id=self.lake_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        arguments, raw = validate_arguments(self.dataset, self.partition, self.hook.root_uri, context)
        outcome = self.run_stage(arguments, "validation", env=self.hook.subprocess_env(), rejected_ok=True)
        return finish_validation(context, self.outlets, outcome, raw)
