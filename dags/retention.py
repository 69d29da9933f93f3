"""
### Retention

Removes, every day, what each zone has kept longer than the environment profile's `retention:`
section allows (days per zone; `null` keeps forever). See docs/data-governance.md.

* **Schedule:** daily; no catch-up. One task per zone, each independent of the others:
  `inference_log` (days since the records were served), `drift_reports`, `validation_reports`,
  `quarantine` and `checkpoints` (days since last written).
* **Never removed:** raw and validated partitions; a model folder (only its `checkpoints/`); any
  artifact location a registered model version still references.
* **Log and XCom:** every removed path with its age and bytes, and a summary per data set.
"""

from __future__ import annotations

from airflow.sdk import DAG

from tradewind.settings import RETENTION_DEFAULTS
from tradewind_airflow.defaults import DEFAULT_ARGS, START
from tradewind_airflow.operators.retention import RetentionSweepOperator

with DAG(
    dag_id="retention",
    description="Remove what each zone kept longer than the profile's retention allows",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tradewind", "maintenance"],
    doc_md=__doc__,
):
    for zone in RETENTION_DEFAULTS:
        RetentionSweepOperator(task_id=f"sweep_{zone}", zone=zone, doc_md=f"Apply the retention of {zone}.")
