"""Batch scoring of one validated day: a thin operator over ``python -m tradewind score``.

``PartitionScoreOperator`` runs the ``score`` stage as a subprocess of the worker with the registry's
tracking URI and the lake's credentials in its environment. The stage scores every row of the day with
the champion (or a named version) through the model server's scoring path and commits
``scores/<dataset>/date=D/``; the task emits the ``scores/<dataset>`` Asset with the scores' lineage
(validated content hash, model version, run id) plus the validated event's Airflow ids. A refusal (no
validated day, no champion, an unknown version: exit 2) fails without retries; a registry or lake
failure (exit 1) is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import Context

from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.cli import StageSubprocessMixin
from tradewind_airflow.operators.context import airflow_ids, emit, partition_date


def partitions_to_score(events: list[dict[str, Any]], params: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The validated days a run scores: one per date of the triggering events (the last event of a date
    wins), in date order; else the form's date."""
    by_date = {str(e["partition_date"]): e for e in events if e.get("partition_date")}
    if by_date:
        return [by_date[d] for d in sorted(by_date)]
    if params and params.get("date"):
        return [{"partition_date": params["date"]}]
    raise ValueError("nothing to score: no validated Asset event triggered this run and no date was given")


def score_arguments(
    dataset: str, partition: dict[str, Any] | str, version: str | int | None, root_uri: str, context: Context
) -> list[str]:
    """The ``score`` stage's arguments (the same for the subprocess and a pod)."""
    event = partition if isinstance(partition, dict) else {}
    day = event.get("partition_date") or partition_date(str(partition or ""), context)
    arguments = ["score", "--dataset", dataset, "--date", str(day), "--root", root_uri]
    if version not in (None, "", "None"):
        arguments += ["--version", str(version)]
    return arguments


def finish_scoring(
    context: Context, outlets: list[Any], outcome: dict[str, Any], partition: dict[str, Any] | str
) -> dict[str, Any]:
    """The ``scores/<dataset>`` event: the scores' lineage, who validated the day, and this task."""
    validated_by = partition.get("airflow") if isinstance(partition, dict) else None
    extra = {**outcome, "validated_by": validated_by, "airflow": airflow_ids(context)}
    emit(context, outlets, extra)
    return extra


class PartitionScoreOperator(StageSubprocessMixin):
    """Score one validated day with the champion (or ``version``) and emit ``scores/<dataset>``.

    :param dataset: name of a dataset spec.
    :param partition: the validated Asset event's extra (a dict), or a ``YYYY-MM-DD`` date.
    :param version: a registered version (templated); empty: the champion.
    """

    template_fields: Sequence[str] = ("dataset", "partition", "version")
    ui_color = "#fcf3cf"

    def __init__(
        self,
        *,
        dataset: str,
        partition: dict[str, Any] | str,
        version: str | int | None = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.partition = partition
        self.version = version
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def hook(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        lake = DataLakeHook()
        env = {**lake.subprocess_env(), "MLFLOW_TRACKING_URI": self.hook.tracking_uri}
        arguments = score_arguments(self.dataset, self.partition, self.version, lake.root_uri, context)
        outcome = self.run_stage(arguments, "batch scoring", env=env)
        return finish_scoring(context, self.outlets, outcome, self.partition)
