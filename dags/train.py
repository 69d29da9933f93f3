"""
### Train

Trains a model of a data set and passes it through the promotion gate.

* **Schedule:** data-aware, on the `validated/<dataset>` Asset (new validated data) OR the
  `drift/<dataset>` Asset (the drift DAG found the served data drifted); also manual, with a form:
  framework, hyperparameters, the data window and an end date.
* **Plan** (the `plan` stage): the validated partitions in the window (default 7 days) ending at the newest validated
  event's date; with a drift event, the newest day of the drifted traffic's events (else the
  newest validated partition in the lake). Retrain governance
  from `include/config/promotion.yaml` skips the run, with the reason in the log, inside the
  cooldown, above the daily cap, or when the data hash has not changed.
* **Backend:** the environment profile's `training.backend` by default, or the form's choice among
  the backends the profile offers. `local` runs the trainer as a subprocess of the worker;
  `kubernetes` runs it in one pod (`train_pod`) or, for a GPU profile of several workers, in an
  indexed Job (`train_job`) whose workers rendezvous through a headless Service. The GPU profile
  (include/config/gpu_profiles.yaml) comes from the form; the local backend honours its worker
  count and says so when it falls back to CPU.
* **Train:** the same stage CLI (`python -m tradewind train`) on every backend. The
  model folder and its checkpoints go to the lake (`models/<dataset>/<run>/`), so a retry resumes.
* **Promote** (the `promote` stage): the run and model are logged to MLflow (a retry reuses them), a version is
  registered, and the candidate and the champion are scored on the same holdout (and on the most
  recent validated day, recorded beside the verdict). The gate's
  verdict is recorded on the version. Pass: the first model becomes `champion`, later ones
  `challenger`, which emits the `challenger/<dataset>` Asset for the canary. Fail: no alias moves.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from tradewind.k8s.profiles import get_gpu_profile, load_gpu_profiles
from tradewind.settings import get_settings
from tradewind_airflow.assets import drift_asset, model_asset, zone_asset
from tradewind_airflow.defaults import DEFAULT_ARGS, START, kubernetes_task_kwargs, partition_date_param
from tradewind_airflow.operators.model import (
    ModelPromoteOperator,
    ModelTrainOperator,
    TrainingPlanOperator,
    train_shape,
    trainer_arguments,
)

settings = get_settings()
training = settings.training
get_gpu_profile(training.gpu_profile)  # a bad default profile fails here, while the file is parsed
TRAIN_TASKS = {"local": "train_local", "pod": "train_pod", "job": "train_job"}
# The form's default hyperparameters per task. Classes are left unweighted: weighting them (binary's
# scale_pos_weight = negatives / positives, multiclass's class_weight: balanced, the trainer's own
# defaults) skews the probabilities the promotion gate checks for calibration (ece, top_label_ece).
# Regression has no classes to weigh.
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "binary": {"scale_pos_weight": 1},
    "multiclass": {"class_weight": "none"},
    "regression": {},
}

for spec in settings.specs():
    with DAG(
        dag_id=f"train_{spec.name}",
        description=f"Train a {spec.name} model and pass it through the promotion gate",
        schedule=zone_asset("validated", spec.name) | drift_asset(spec.name),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["tradewind", "train", spec.name],
        doc_md=__doc__,
        params={
            "framework": Param("xgboost", enum=["xgboost", "torch"], title="Framework"),
            "hyperparameters": Param(
                dict(DEFAULT_HYPERPARAMETERS[spec.task]),
                type="object",
                title="Hyperparameters",
                description='Passed to the trainer, e.g. {"max_depth": 6, "num_boost_round": 300}.',
            ),
            "backend": Param(training.backend, enum=list(training.backends), title="Backend"),
            "gpu_profile": Param(
                training.gpu_profile,
                enum=sorted(load_gpu_profiles()),
                title="GPU profile",
                description="Where the trainer runs: node pool, GPUs, workers (include/config/gpu_profiles.yaml).",
            ),
            "window_days": Param(7, type="integer", minimum=1, maximum=366, title="Data window (days)"),
            "date": partition_date_param("Manual runs: the last day of the window (YYYY-MM-DD)."),
            "force": Param(False, type="boolean", title="Ignore retrain governance"),
        },
    ):

        @task.branch
        def choose_backend(params: Any = None) -> str:
            """The train task of this run: local, one pod, or an indexed Job for a multi-worker profile."""
            return TRAIN_TASKS[train_shape(params["backend"], params["gpu_profile"])]

        planned = TrainingPlanOperator(task_id="plan", dataset=spec.name)
        arguments = trainer_arguments(spec.name)
        train_tasks = [
            ModelTrainOperator(
                task_id=TRAIN_TASKS["local"], arguments=arguments, gpu_profile="{{ params.gpu_profile }}"
            )
        ]
        if "kubernetes" in training.backends:
            # Only a profile with a cluster loads the provider (and the kubernetes client).
            from tradewind_airflow.operators.training import TrainerJobOperator, TrainerPodOperator

            k8s = {**kubernetes_task_kwargs("{{ params.gpu_profile }}"), "arguments": arguments}
            train_tasks.append(TrainerPodOperator(task_id=TRAIN_TASKS["pod"], **k8s))
            train_tasks.append(
                TrainerJobOperator(task_id=TRAIN_TASKS["job"], service=training.rendezvous_service, **k8s)
            )
        promoted = ModelPromoteOperator(
            task_id="promote", dataset=spec.name, plan=planned.output, trigger_rule="none_failed_min_one_success"
        )
        planned >> choose_backend() >> train_tasks >> promoted

        @task(outlets=[model_asset(spec.name, "challenger")])
        def announce_challenger(outcome: dict[str, Any]) -> dict[str, Any]:
            """Emit the challenger Asset (the canary's trigger) only when a challenger was set."""
            from airflow.sdk.exceptions import AirflowSkipException

            if outcome["action"] != "challenger":
                raise AirflowSkipException(f"no new challenger (version {outcome['version']}: {outcome['action']})")
            return outcome

        announce_challenger(promoted.output)
