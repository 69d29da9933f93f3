"""
### Validate

Runs when new raw partitions land (data-aware: scheduled on the `raw/<dataset>` Asset, not on a
clock) and checks each with the data set's Great Expectations suite
(`include/expectations/<dataset>.v<N>.json`, built from the dataset spec): schema, types, nulls,
ranges, allowed categories, row count, label rate, unique ids, freshness.

* **Pass:** the partition is written to `validated/<dataset>/date=.../` and the
  `validated/<dataset>` Asset is emitted with the raw lineage plus the validation result id.
* **Where:** the `validate` stage (`python -m tradewind validate`) as a subprocess of the worker, or in a
  pod on a profile whose `stages.backend` is `kubernetes`.
* **Fail:** the batch is copied to `quarantine/<dataset>/date=.../<result id>/` with the GX result
  JSON and Data Docs HTML beside it, the raw partition is kept, nothing is emitted, and the task
  fails naming each failed expectation, its column and sample offending values.
* **Re-delivery:** when a day that had passed is delivered again and the new data is quarantined, the
  earlier validated partition is withdrawn (a `_superseded.json` marker; no stage reads the day until a
  good re-delivery replaces it) and the `withdrawals` task emits the `withdrawn/<dataset>` Asset naming
  the days. A good re-delivery's validated event carries `replaces`. See docs/validation.md.

One mapped task per partition, so one bad day never holds back a good one.
Manual runs take a date from the form.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from tradewind.settings import get_settings
from tradewind_airflow.assets import withdrawn_asset, zone_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START, kubernetes_task_kwargs, partition_date_param
from tradewind_airflow.operators.partition import PartitionValidateOperator, report_withdrawals

settings = get_settings()
if settings.stages.backend == "kubernetes":
    # Only a profile whose stages run on a cluster loads the provider (and the kubernetes client).
    from tradewind_airflow.operators.stage_pods import PartitionValidatePodOperator as Validate

    placement = kubernetes_task_kwargs(settings.stages.gpu_profile)
else:
    Validate, placement = PartitionValidateOperator, {}


def latest_per_date(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per partition date (the last event wins), in date order."""
    by_date: dict[str, dict[str, Any]] = {}
    for extra in events:
        if extra.get("partition_date"):
            by_date[extra["partition_date"]] = extra
    return [by_date[d] for d in sorted(by_date)]


for spec in settings.specs():
    raw = zone_asset("raw", spec.name)
    with DAG(
        dag_id=f"validate_{spec.name}",
        description=f"Validate new raw partitions of {spec.name} with Great Expectations",
        schedule=[raw],
        start_date=START,
        catchup=False,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "validate", spec.name],
        doc_md=__doc__,
        params={
            "date": partition_date_param("Manual runs: the raw partition to validate (YYYY-MM-DD)."),
        },
    ):

        @task
        def partitions(triggering_asset_events: Any = None, params: Any = None) -> list[Any]:
            """The raw partitions this run must validate: from the triggering events, or the form."""
            events = [dict(e.extra) for evs in (triggering_asset_events or {}).values() for e in evs]
            if events:
                return latest_per_date(events)
            if params and params.get("date"):
                return [{"partition_date": params["date"]}]
            raise ValueError("nothing to validate: no raw Asset event triggered this run and no date was given")

        validated = Validate.partial(
            task_id="validate_partition",
            dataset=spec.name,
            outlets=[zone_asset("validated", spec.name)],
            map_index_template="{{ task.partition.get('partition_date', task.partition) }}",
            **placement,
        ).expand(partition=partitions())

        @task(trigger_rule="all_done", outlets=[withdrawn_asset(spec.name)])
        def withdrawals(dataset: str = spec.name, **context: Any) -> list[dict[str, Any]]:
            """The validated days this run's quarantines withdrew, as the ``withdrawn/<dataset>`` event."""
            return report_withdrawals(context, dataset, withdrawn_asset(dataset), "validate_partition")

        # A teardown: it runs whatever the validations' states, and the run's state stays theirs (a quarantine
        # still fails the run).
        validated >> withdrawals().as_teardown()
