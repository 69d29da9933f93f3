"""
### Score

Scores each new validated day of the data set with the champion (batch scoring: the same model and
the same feature code as the model server), and on demand from the form.

* **Schedule:** data-aware, on the `validated/<dataset>` Asset: one mapped task per validated day in the
  triggering events (the latest event of a day wins). **Manual:** a date and, optionally, a registered
  version (empty: the champion).
* **Where:** the `score` stage (`python -m tradewind score`) as a subprocess of the worker, or in a pod on a
  profile whose `stages.backend` is `kubernetes`. Rows are scored in bounded chunks (progress in the log).
* **Writes:** `scores/<dataset>/date=.../`, committed atomically with a manifest: per row the id and key
  columns, the score (binary: the probability of the positive class), the model's name and version; the
  manifest holds the lineage (validated content hash, model version and run id).
* **Emits:** `scores/<dataset>` with that lineage.
* **Refused (no retry):** no validated partition for the day (or a superseded one), no champion, a version
  that does not exist. A registry or lake outage is retried; nothing partial is ever left.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from tradewind.settings import get_settings
from tradewind_airflow.assets import zone_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START, kubernetes_task_kwargs, partition_date_param
from tradewind_airflow.operators.score import PartitionScoreOperator, partitions_to_score

settings = get_settings()
if settings.stages.backend == "kubernetes":
    # Only a profile whose stages run on a cluster loads the provider (and the kubernetes client).
    from tradewind_airflow.operators.stage_pods import PartitionScorePodOperator as Score

    placement = kubernetes_task_kwargs(settings.stages.gpu_profile)
else:
    Score, placement = PartitionScoreOperator, {}

for spec in settings.specs():
    with DAG(
        dag_id=f"score_{spec.name}",
        description=f"Score new validated partitions of {spec.name} with the champion",
        schedule=[zone_asset("validated", spec.name)],
        start_date=START,
        catchup=False,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "score", spec.name],
        doc_md=__doc__,
        params={
            "date": partition_date_param("Manual runs: the validated partition to score (YYYY-MM-DD)."),
            "version": Param(
                None,
                type=["null", "integer"],
                minimum=1,
                title="Model version",
                description="A registered version of the model to score with; empty: the champion.",
            ),
        },
    ):

        @task
        def partitions(triggering_asset_events: Any = None, params: Any = None) -> list[Any]:
            """The validated days this run scores: from the triggering events, or the form."""
            events = [dict(e.extra) for evs in (triggering_asset_events or {}).values() for e in evs]
            return partitions_to_score(events, params)

        Score.partial(
            task_id="score_partition",
            dataset=spec.name,
            version="{{ params.version or '' }}",
            outlets=[zone_asset("scores", spec.name)],
            map_index_template="{{ task.partition.get('partition_date', task.partition) }}",
            **placement,
        ).expand(partition=partitions())
