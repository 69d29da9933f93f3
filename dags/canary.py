"""
### Canary

Rolls a new `challenger` model out to live traffic in stages and promotes it or rolls it back by
itself.

* **Schedule:** data-aware, on the `challenger/<dataset>` Asset (the train DAG emits it when a
  model passes the promotion gate); also manual, with a form to change the stages, the bake time
  and the requests per stage for one run.
* **Stages** (`include/config/canary.yaml`, default 10% -> 50% -> 100%): at each one the
  challenger's share of traffic is set on the serving target of the environment profile (the
  local model server, or KServe's `canaryTrafficPercent`), then the task waits in the triggerer,
  not in a worker slot, until the stage has baked: the bake time, and the minimum number of
  challenger requests.
* **SLOs per stage:** challenger error rate, p99 latency against the champion's, and the PSI
  between the two variants' score distributions.
* **Pass at 100%:** the challenger becomes `champion` (alias moves recorded, the old champion kept
  as `previous-champion` for `rollback_<dataset>`), the `challenger` alias is cleared, and the
  `champion/<dataset>` Asset is emitted.
* **Fail at any stage:** traffic back to 0, the `challenger` alias cleared (the champion never
  moved), the verdict recorded on the model version (`tradewind.canary`), and the run fails naming
  the breached SLO and its figures.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from tradewind.canary.config import get_canary_config
from tradewind.settings import get_settings
from tradewind_airflow.assets import model_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START
from tradewind_airflow.operators.canary import CanaryRolloutOperator

canary = get_canary_config()  # a malformed canary.yaml fails here, while the file is parsed

for spec in get_settings().specs():
    with DAG(
        dag_id=f"canary_{spec.name}",
        description=f"Roll the {spec.name} challenger out in stages; promote it or roll it back",
        schedule=[model_asset(spec.name, "challenger")],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        # The form's list and numbers reach the operator as such (no re-parsing of rendered text).
        render_template_as_native_obj=True,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "serving", spec.name],
        doc_md=__doc__,
        params={
            "stages": Param(
                list(canary.stages),
                type="array",
                items={"type": "integer", "minimum": 1, "maximum": 100},
                title="Stages (challenger %)",
                description="Ascending, ending at 100.",
            ),
            "bake_seconds": Param(canary.bake_seconds, type="number", minimum=0, title="Bake time per stage (s)"),
            "min_requests": Param(
                canary.min_requests, type="integer", minimum=1, title="Challenger requests per stage"
            ),
            "poll_interval_seconds": Param(
                canary.poll_interval_seconds, type="number", exclusiveMinimum=0, title="Metrics poll interval (s)"
            ),
        },
    ):
        CanaryRolloutOperator(
            task_id="rollout",
            model_name=spec.name,
            stages="{{ params.stages }}",
            bake_seconds="{{ params.bake_seconds }}",
            min_requests="{{ params.min_requests }}",
            poll_interval_seconds="{{ params.poll_interval_seconds }}",
            # A rolled-back canary fails without retries (AirflowFailException); a retry after a crash
            # starts the rollout again from the first stage, or, when the crashed try had already moved the
            # aliases, finishes that promotion (serves the new champion alone, records the outcome).
            outlets=[model_asset(spec.name, "champion")],
        )
