"""Operators that plan a training run, train a model and pass it through the promotion gate.

``TrainingPlanOperator`` calls the ``plan`` stage with the run's triggering Asset events and form,
and skips the run when retrain governance says no. ``ModelTrainOperator`` runs the ``train`` stage
as a subprocess of the worker: the local backend (its log streams into the task log; ``on_kill``
stops it; a retry resumes from the checkpoint). On Kubernetes the same CLI, with the same arguments
(:func:`trainer_arguments`), runs through ``operators.training.TrainerPodOperator`` /
``TrainerJobOperator``. Every backend writes the model folder to the lake, where the ``promote``
stage reads it; ``ModelPromoteOperator`` calls that stage with the registry of
``MlflowRegistryHook``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tradewind.stages.outcome import StageInputError
from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.cli import StageSubprocessMixin
from tradewind_airflow.operators.context import airflow_ids, form, triggered_by, triggering_extras

log = logging.getLogger(__name__)


def trainer_arguments(dataset: str, plan_task_id: str = "plan") -> list[str]:
    """The ``train`` stage's arguments for a run, templated from the form and the plan task's output.

    The plan gives the dates, the lake root and where the model and its checkpoints go; the form
    gives the framework and the hyperparameters. Each element is rendered on its own, so the same
    list serves the subprocess, the pod and every worker of a Job.
    """
    plan = f"ti.xcom_pull(task_ids='{plan_task_id}')"
    return [
        "train",
        "--dataset", dataset,
        "--framework", "{{ params.framework }}",
        "--dates", f"{{{{ {plan}['dates'] | join(',') }}}}",
        "--root", f"{{{{ {plan}['root'] }}}}",
        "--params", "{{ params.hyperparameters | tojson }}",
        "--out", f"{{{{ {plan}['model_uri'] }}}}",
        "--checkpoint-dir", f"{{{{ {plan}['checkpoint_uri'] }}}}",
    ]  # fmt: skip


def train_shape(backend: str, gpu_profile: str) -> str:
    """Where a run trains: ``local`` (a worker subprocess), ``pod`` (one pod) or ``job`` (an indexed Job,
    for a GPU profile of several workers on the ``kubernetes`` backend). The choice is logged."""
    from tradewind.k8s.profiles import get_gpu_profile

    profile = get_gpu_profile(gpu_profile)
    shape = "local" if backend == "local" else "job" if profile.is_distributed else "pod"
    log.info(
        "Backend %s, GPU profile %s (%d worker(s) x %d GPU(s)): %s",
        backend,
        profile.name,
        profile.workers,
        profile.gpus,
        shape,
    )
    return shape


class _RegistryOperator(BaseOperator):
    def __init__(self, *, mlflow_conn_id: str = "mlflow_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def hook(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)


class TrainingPlanOperator(_RegistryOperator):
    """The ``plan`` stage: the window to train on, or a skip with the governance reason.

    Reads the form's ``date``, ``window_days`` and ``force``. Pushes ``trigger`` (data, drift or
    manual) and ``governance`` (the reason) to XCom; returns the plan.
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#fcf3cf"

    def __init__(self, *, dataset: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.stages.plan import plan_training

        params = form(context)
        events = triggering_extras(context)
        self.log.info("Triggered by %d Asset event(s): %s", len(events), events)
        try:
            plan = plan_training(
                self.dataset,
                run_id=context["run_id"],
                client=self.hook.get_conn(),
                events=events,
                date=params.get("date"),
                window_days=int(params.get("window_days") or 7),
                force=bool(params.get("force")),
                root=DataLakeHook().root_uri,
            )
        except StageInputError as err:
            raise AirflowFailException(str(err)) from err
        context["ti"].xcom_push(key="trigger", value=plan.trigger)
        context["ti"].xcom_push(key="governance", value=plan.governance)
        if plan.skipped:
            raise AirflowSkipException(plan.governance)
        return plan.to_dict()


class ModelTrainOperator(StageSubprocessMixin):
    """Run the ``train`` stage as a subprocess (the local backend); return its JSON summary.

    :param arguments: the stage's arguments (each templated), e.g. :func:`trainer_arguments`.
    :param gpu_profile: a GPU profile name (templated); the local run honours its worker count and
        says so when it falls back to CPU.
    """

    template_fields: Sequence[str] = ("arguments", "gpu_profile")
    ui_color = "#fdebd0"

    def __init__(self, *, arguments: Sequence[str], gpu_profile: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arguments = list(arguments)
        self.gpu_profile = gpu_profile

    def execute(self, context: Context) -> dict[str, Any]:
        arguments = list(map(str, self.arguments))
        if self.gpu_profile:
            arguments += ["--gpu-profile", str(self.gpu_profile)]
        return dict(self.run_stage(arguments, "trainer", env=DataLakeHook().subprocess_env()))


class ModelPromoteOperator(_RegistryOperator):
    """The ``promote`` stage: log and register the trained model, compare it with the champion, apply
    the gate.

    Returns the outcome; a rejected candidate ends the task as skipped with the gate's reasons
    (nothing is wrong with the pipeline, the model just did not earn a place), and so does one that
    lost a race with a concurrent promotion (the reason is recorded on its version).
    """

    template_fields: Sequence[str] = ("dataset", "plan")
    ui_color = "#e8daef"

    def __init__(self, *, dataset: str, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.plan = plan

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.stages.promote import promote

        try:
            outcome = promote(
                self.dataset,
                model_uri=str(self.plan["model_uri"]),
                dates=list(self.plan["dates"]),
                client=self.hook.get_conn(),
                tracking_uri=self.hook.tracking_uri,
                root=DataLakeHook().root_uri,
                airflow_context=airflow_ids(context),
                triggered_by=triggered_by(context),
            )
        except StageInputError as err:
            raise AirflowFailException(str(err)) from err
        context["ti"].xcom_push(key="outcome", value=outcome)
        if outcome["action"] in ("reject", "lost"):
            what = "rejected" if outcome["action"] == "reject" else "lost its promotion"
            raise AirflowSkipException(f"version {outcome['version']} {what}: " + "; ".join(outcome["reasons"]))
        return outcome
