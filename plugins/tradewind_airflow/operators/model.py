"""Operators that train a model and pass it through the promotion gate.

``ModelTrainOperator`` runs the one trainer CLI (``python -m tradewind.training train``) as a
subprocess of the worker: the local backend. Its log lines stream into the task log; ``on_kill``
stops it; a retry resumes from the checkpoint. (On Kubernetes the same CLI runs through
``operators.training.trainer_pod_operator`` / ``trainer_job_operator``.)

``ModelPromoteOperator`` calls ``tradewind.registry.promotion.promote_candidate`` with the
registry from ``MlflowRegistryHook``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tradewind.settings import REPO_ROOT, get_settings
from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.partition import airflow_ids

MODELS_DIR = REPO_ROOT / "data" / "models"


def _run_dir(context: Context, dataset: str) -> Path:
    """One folder per DAG run (retries reuse it, so a checkpoint is found again)."""
    run_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", context["ti"].run_id)
    return MODELS_DIR / dataset / run_id


class ModelTrainOperator(BaseOperator):
    """Train on validated partitions with the trainer CLI; return its summary plus the model folder.

    :param plan: the ``plan`` task's output: ``{"dates": [...], ...}``.
    :param framework: ``xgboost`` or ``torch``.
    :param train_params: hyperparameters (a dict), passed to the CLI as JSON.
    """

    template_fields: Sequence[str] = ("dataset", "plan", "framework", "train_params")
    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        dataset: str,
        plan: Any,
        framework: str = "{{ params.framework }}",
        train_params: Any = "{{ params.hyperparameters | tojson }}",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.plan = plan
        self.framework = framework
        self.train_params = train_params
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        params = self.train_params if isinstance(self.train_params, str) else json.dumps(self.train_params or {})
        run_dir = _run_dir(context, self.dataset)
        command = [
            sys.executable, "-m", "tradewind.training", "train",
            "--dataset", self.dataset,
            "--framework", str(self.framework),
            "--dates", ",".join(self.plan["dates"]),
            "--root", DataLakeHook().root_uri,
            "--params", params,
            "--out", str(run_dir / "model"),
            "--checkpoint-dir", str(run_dir / "checkpoints"),
        ]  # fmt: skip
        self.log.info("Training: %s", " ".join(command[1:]))
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self._proc.stderr is not None
        for line in self._proc.stderr:  # the trainer's progress lines
            self.log.info("%s", line.rstrip())
        out = self._proc.stdout.read() if self._proc.stdout else ""
        code = self._proc.wait()
        if code == 2:
            raise AirflowFailException(f"the trainer refused its input (exit 2); see the lines above. {out[-500:]}")
        if code != 0:
            raise RuntimeError(f"the trainer failed with exit code {code}")
        summary = json.loads(out)
        summary.update(model_dir=str(run_dir / "model"), dates=list(self.plan["dates"]))
        return summary

    def on_kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()


class ModelPromoteOperator(BaseOperator):
    """Log and register the trained model, compare it with the champion and apply the gate.

    Returns the outcome; a rejected candidate ends the task as skipped with the gate's reasons
    (nothing is wrong with the pipeline, the model just did not earn a place).
    """

    template_fields: Sequence[str] = ("dataset", "training")
    ui_color = "#e8daef"

    def __init__(self, *, dataset: str, training: Any, mlflow_conn_id: str = "mlflow_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.training = training
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def hook(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.registry.gate import get_gate_config
        from tradewind.registry.promotion import promote_candidate
        from tradewind.training.data import load_validated, time_split

        spec = get_settings().spec(self.dataset)
        summary = dict(self.training)
        rows = load_validated(spec, DataLakeHook().root_uri, summary["dates"])
        train_rows, holdout = time_split(rows, spec, float(summary.get("params", {}).get("holdout_fraction", 0.2)))
        ids = airflow_ids(context)
        outcome = promote_candidate(
            self.hook.get_conn(),
            self.hook.tracking_uri,
            model_name=spec.name,
            experiment=f"tradewind-{spec.name}",
            spec=spec,
            model_dir=summary["model_dir"],
            summary=summary,
            holdout=holdout,
            training_rows=len(train_rows),
            config=get_gate_config(),
            airflow_context=ids,
            triggered_by=f"{ids['dag_id']}/{ids['run_id']}",
        ).to_dict()
        context["ti"].xcom_push(key="outcome", value=outcome)
        if outcome["action"] == "reject":
            raise AirflowSkipException(f"version {outcome['version']} rejected: " + "; ".join(outcome["reasons"]))
        return outcome
