"""
### Drift

Checks, every hour, whether the data the champion is serving still looks like the data it was trained
on, and asks for a retrain when it does not.

* **Schedule:** hourly (each run checks the last `window_hours` of the inference log, default from
  the dataset spec's `drift:` section); also manual, with a form for the window.
* **Check** (`tradewind.monitoring`, Evidently): every feature of the champion's reference (a sample
  of its training data, stored with the model version) against the rows of the inference log the
  champion served in the window; per-type methods and thresholds from the spec, the drifted share,
  unseen categories, prediction drift on the scores and, once labels for the window's days are in
  the lake, performance drift against the champion's validation metrics. Large windows are sampled
  (bounded, seeded, recorded in the report). The `drift` stage (`python -m tradewind drift`) runs as a
  subprocess of the worker, or in a pod on a profile whose `stages.backend` is `kubernetes`.
* **Report:** Evidently HTML and a JSON summary under `reports/drift/<dataset>/v<version>/<time>/`,
  logged to the champion's MLflow run; the per-feature table is in the task log.
* **Drift:** `announce_drift` emits the `drift/<dataset>` Asset (extra: drifted features, share,
  window, report path). The train DAG is scheduled on it, and its retrain governance (cooldown,
  daily cap) applies.
* **Skipped:** with no champion, no inference log yet, or a window below the minimum size, the run
  succeeds, the log says `skipped: <why>`, and nothing is emitted.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from tradewind.monitoring.config import drift_config
from tradewind.settings import get_settings
from tradewind_airflow.assets import drift_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START, kubernetes_task_kwargs
from tradewind_airflow.operators.drift import DriftCheckOperator

settings = get_settings()
if settings.stages.backend == "kubernetes":
    # Only a profile whose stages run on a cluster loads the provider (and the kubernetes client).
    from tradewind_airflow.operators.stage_pods import DriftCheckPodOperator as Check

    placement = kubernetes_task_kwargs(settings.stages.gpu_profile)
else:
    Check, placement = DriftCheckOperator, {}

for spec in settings.specs():
    config = drift_config(spec)  # a malformed drift: section fails here, while the file is parsed
    with DAG(
        dag_id=f"drift_{spec.name}",
        description=f"Hourly drift check of the {spec.name} champion's traffic; drift asks for a retrain",
        schedule="@hourly",
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "monitoring", spec.name],
        doc_md=__doc__,
        params={
            "window_hours": Param(
                config.window_hours,
                type="number",
                exclusiveMinimum=0,
                maximum=24 * 31,
                title="Window (hours)",
                description="Hours of the inference log before the window's end.",
            ),
            "end": Param(
                None,
                type=["null", "string"],
                format="date-time",
                title="Window end",
                description="Empty: the hour a scheduled run covers, or now for a manual run.",
            ),
        },
    ):
        checked = Check(
            task_id="check_drift",
            dataset=spec.name,
            window_hours="{{ params.window_hours }}",
            end="{{ params.end or '' }}",
            **placement,
        )

        @task(outlets=[drift_asset(spec.name)])
        def announce_drift(check: dict[str, Any], dataset: str = spec.name) -> dict[str, Any]:
            """Emit ``drift/<dataset>`` with the check's facts, only when it found drift."""
            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowSkipException

            if check["status"] != "drift":
                why = check.get("reason") or "nothing beyond the thresholds"
                raise AirflowSkipException(f"{check['status']}: {why}")
            get_current_context()["outlet_events"][drift_asset(dataset)].extra = check
            return check

        announce_drift(checked.output)
