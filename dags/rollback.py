"""
### Rollback

Puts the previous champion back into service in one trigger.

* **Schedule:** manual only (Trigger DAG w/ config).
* **What it does:** the registry's `champion` alias moves back to the `previous-champion` version
  (or to the version named in the form), recorded in the alias history with the reason and this
  run; the rolled-back version is tagged `tradewind.rolled_back_at`. Then the serving target of the
  environment profile (the local model server, or KServe) is made to serve it, with the
  challenger's traffic set to 0.
* **Fails** with the reason when there is nothing to roll back to.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from tradewind.settings import get_settings
from tradewind_airflow.defaults import DEFAULT_ARGS, START
from tradewind_airflow.operators.rollback import ModelRollbackOperator

for spec in get_settings().specs():
    with DAG(
        dag_id=f"rollback_{spec.name}",
        description=f"Put the previous {spec.name} champion back into service",
        schedule=None,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "serving", spec.name],
        doc_md=__doc__,
        params={
            "to_version": Param(
                None,
                type=["null", "string"],
                title="Version to restore",
                description="Empty: the previous champion.",
            ),
            "reason": Param("manual rollback", type="string", minLength=1, title="Reason (recorded)"),
        },
    ):
        ModelRollbackOperator(
            task_id="rollback",
            model_name=spec.name,
            to_version="{{ params.to_version or '' }}",
            reason="{{ params.reason }}",
        )
