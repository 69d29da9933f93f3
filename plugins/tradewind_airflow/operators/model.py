"""Operators that train a model and pass it through the promotion gate.

``ModelTrainOperator`` runs the one trainer CLI (``python -m tradewind.training``) as a subprocess
of the worker: the local backend. Its log lines stream into the task log; ``on_kill`` stops it; a
retry resumes from the checkpoint. On Kubernetes the same CLI, with the same arguments
(:func:`trainer_arguments`), runs through ``operators.training.TrainerPodOperator`` /
``TrainerJobOperator``. Every backend writes the model folder to the lake, where the promote step
reads it.

``ModelPromoteOperator`` calls ``tradewind.registry.promotion.promote_candidate`` with the
registry from ``MlflowRegistryHook``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from tradewind.settings import get_settings
from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.cli import CliSubprocessMixin
from tradewind_airflow.operators.partition import airflow_ids


def trainer_arguments(dataset: str, plan_task_id: str = "plan") -> list[str]:
    """The trainer CLI's arguments for a run, templated from the form and the plan task's output.

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


class ModelTrainOperator(CliSubprocessMixin):
    """Run the trainer CLI as a subprocess (the local backend); return its JSON summary.

    :param arguments: the CLI's arguments (each templated), e.g. :func:`trainer_arguments`.
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
        return dict(self.run_cli("tradewind.training", arguments, "trainer"))


class ModelPromoteOperator(BaseOperator):
    """Log and register the trained model, compare it with the champion and apply the gate.

    Returns the outcome; a rejected candidate ends the task as skipped with the gate's reasons
    (nothing is wrong with the pipeline, the model just did not earn a place).
    """

    template_fields: Sequence[str] = ("dataset", "plan")
    ui_color = "#e8daef"

    def __init__(self, *, dataset: str, plan: Any, mlflow_conn_id: str = "mlflow_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.plan = plan
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def hook(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.monitoring.reference import REFERENCE_FILE, reference_for_model, save_reference
        from tradewind.registry.gate import get_gate_config
        from tradewind.registry.promotion import promote_candidate
        from tradewind.training.data import latest_dates, load_validated, time_split
        from tradewind.training.model import load_model

        spec = get_settings().spec(self.dataset)
        root = DataLakeHook().root_uri
        # Whichever backend trained it, the model folder is in the lake, its summary in its manifest.
        candidate = load_model(self.plan["model_uri"])
        summary = dict(candidate.metadata)
        rows = load_validated(spec, root, self.plan["dates"])
        train_rows, holdout = time_split(rows, spec, float(summary.get("params", {}).get("holdout_fraction", 0.2)))
        newest = latest_dates(spec, root, count=1)
        self.log.info("Most recent validated window: %s", ", ".join(d.isoformat() for d in newest) or "none")
        recent = load_validated(spec, root, [d.isoformat() for d in newest]) if newest else None
        ids = airflow_ids(context)
        with tempfile.TemporaryDirectory(prefix="tradewind-candidate-") as local:
            candidate.save(local)  # MLflow logs artifacts from a local folder
            # The drift checks' reference travels with the version (and stays beside the model in the lake).
            reference = reference_for_model(candidate, train_rows, spec)
            for target in (f"{local}/{REFERENCE_FILE}", f"{str(self.plan['model_uri']).rstrip('/')}/{REFERENCE_FILE}"):
                save_reference(reference, target)
            self.log.info(
                "Drift reference: %d of %d training rows with the model's scores (%s)",
                len(reference),
                len(train_rows),
                REFERENCE_FILE,
            )
            outcome = promote_candidate(
                self.hook.get_conn(),
                self.hook.tracking_uri,
                model_name=spec.name,
                experiment=f"tradewind-{spec.name}",
                spec=spec,
                model_dir=local,
                summary=summary,
                holdout=holdout,
                recent=recent,
                training_rows=len(train_rows),
                config=get_gate_config(),
                airflow_context=ids,
                triggered_by=f"{ids['dag_id']}/{ids['run_id']}",
            ).to_dict()
        context["ti"].xcom_push(key="outcome", value=outcome)
        if outcome["action"] == "reject":
            raise AirflowSkipException(f"version {outcome['version']} rejected: " + "; ".join(outcome["reasons"]))
        return outcome
