"""
### Train

Trains a model of a data set and passes it through the promotion gate.

* **Schedule:** data-aware, on the `validated/<dataset>` Asset (new validated data); also manual,
  with a form: framework, hyperparameters, the data window and an end date.
* **Plan:** the validated partitions in the window (default 7 days) ending at the newest event's
  date. Retrain governance from `include/config/promotion.yaml` skips the run, with the reason in
  the log, inside the cooldown, above the daily cap, or when the data hash has not changed.
* **Train:** the trainer CLI (`python -m tradewind.training train`) on the local backend; it
  checkpoints, so a retry resumes.
* **Promote:** the run and model are logged to MLflow (a retry reuses them), a version is
  registered, and the candidate and the champion are scored on the same holdout. The gate's
  verdict is recorded on the version. Pass: the first model becomes `champion`, later ones
  `challenger`, which emits the `challenger/<dataset>` Asset for the canary. Fail: no alias moves.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from tradewind.settings import get_settings
from tradewind_airflow.assets import model_asset, zone_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START, partition_date_param
from tradewind_airflow.operators.model import ModelPromoteOperator, ModelTrainOperator

for spec in get_settings().specs():
    with DAG(
        dag_id=f"train_{spec.name}",
        description=f"Train a {spec.name} model and pass it through the promotion gate",
        schedule=[zone_asset("validated", spec.name)],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "train", spec.name],
        doc_md=__doc__,
        params={
            "framework": Param("xgboost", enum=["xgboost", "torch"], title="Framework"),
            "hyperparameters": Param(
                # Unweighted classes keep scores calibrated, which the gate checks (max_ece).
                {"scale_pos_weight": 1},
                type="object",
                title="Hyperparameters",
                description='Passed to the trainer, e.g. {"max_depth": 6, "num_boost_round": 300}.',
            ),
            "window_days": Param(7, type="integer", minimum=1, maximum=366, title="Data window (days)"),
            "date": partition_date_param("Manual runs: the last day of the window (YYYY-MM-DD)."),
            "force": Param(False, type="boolean", title="Ignore retrain governance"),
        },
    ):

        @task
        def plan(triggering_asset_events: Any = None, params: Any = None, dataset: str = spec.name) -> dict[str, Any]:
            """The window to train on, or a skip with the governance reason."""
            import datetime as dt
            import logging

            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowSkipException

            from tradewind.registry.gate import get_gate_config, retrain_allowed
            from tradewind.registry.promotion import retrain_history
            from tradewind.training.data import available_dates, combined_hash, content_hashes, validated_manifests
            from tradewind_airflow.hooks.lake import DataLakeHook
            from tradewind_airflow.hooks.mlflow import MlflowRegistryHook

            event_dates = [
                e.extra.get("partition_date")
                for events in (triggering_asset_events or {}).values()
                for e in events
                if e.extra.get("partition_date")
            ]
            until = (params or {}).get("date") or (max(event_dates) if event_dates else None)
            if not until:
                raise ValueError("no end date: no validated Asset event triggered this run and the form has no date")
            settings = get_settings()
            root = DataLakeHook().root_uri
            days = available_dates(
                settings.spec(dataset), root, until=dt.date.fromisoformat(until), window_days=int(params["window_days"])
            )
            if not days:
                raise ValueError(f"no validated {dataset} partitions in the {params['window_days']} days to {until}")
            # The data's identity comes from the manifests: no rows are read to plan.
            data_hash = combined_hash(content_hashes(validated_manifests(settings.spec(dataset), root, days)))
            hook = MlflowRegistryHook()
            starts, last_hash = retrain_history(hook.get_conn(), f"tradewind-{dataset}")
            allowed, reason = retrain_allowed(starts, dt.datetime.now(dt.UTC), data_hash, last_hash, get_gate_config())
            logging.getLogger("tradewind.train").info("Retrain governance: %s", reason)
            get_current_context()["ti"].xcom_push(key="governance", value=reason)
            if not allowed and not params.get("force"):
                raise AirflowSkipException(reason)
            return {"dates": [d.isoformat() for d in days], "data_hash": data_hash}

        trained = ModelTrainOperator(task_id="train", dataset=spec.name, plan=plan())
        promoted = ModelPromoteOperator(task_id="promote", dataset=spec.name, training=trained.output)

        @task(outlets=[model_asset(spec.name, "challenger")])
        def announce_challenger(outcome: dict[str, Any]) -> dict[str, Any]:
            """Emit the challenger Asset (the canary's trigger) only when a challenger was set."""
            from airflow.sdk.exceptions import AirflowSkipException

            if outcome["action"] != "challenger":
                raise AirflowSkipException(f"no new challenger (version {outcome['version']}: {outcome['action']})")
            return outcome

        announce_challenger(promoted.output)
