"""Heavy stages in pods: validation, the drift check and batch scoring on a cluster profile
(``stages.backend: kubernetes``).

The same ``python -m tradewind <stage>`` command and arguments as the local subprocess, in one pod on
a (CPU) GPU profile of include/config/gpu_profiles.yaml, through the provider's
``KubernetesPodOperator`` (by way of :class:`TrainerPodOperator`, which applies the profile). The
stage writes its outcome to ``$TRADEWIND_RESULT_FILE`` = the XCom file, so the provider's sidecar
returns it; the operator then turns it into XCom, an Asset event or a failure exactly as the local
operator does. Deferrable: the outcome is handled where the provider returns it, after the pod ran
(``execute`` without deferral, ``trigger_reentry`` with it).

This module imports the provider (and the kubernetes client): DAG files import it only on a profile
whose stages run on Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
from airflow.sdk import Context

from tradewind.k8s import specs
from tradewind.stages.outcome import RESULT_FILE_ENV
from tradewind_airflow.hooks.lake import DataLakeHook
from tradewind_airflow.operators.drift import drift_arguments, finish_drift
from tradewind_airflow.operators.partition import finish_validation, validate_arguments
from tradewind_airflow.operators.score import finish_scoring, score_arguments
from tradewind_airflow.operators.training import TrainerPodOperator

# Where the provider's XCom sidecar reads a pod's result, the sidecar's name and what it may use.
XCOM_FILE = "/airflow/xcom/return.json"
SIDECAR_NAME = "airflow-xcom-sidecar"
SIDECAR_RESOURCES = {"requests": {"cpu": "1m", "memory": "10Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}}


def _container(**fields: Any) -> Any:
    """A kubernetes client container model from API fields (the provider's own deserialiser)."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": [{"name": "c", **fields}]}}
    return PodGenerator.deserialize_model_dict(body).spec.containers[0]


class StagePodOperator(TrainerPodOperator):
    """A stage of the one CLI in one pod; its outcome comes back as the task's XCom."""

    def __init__(self, *, env: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("do_xcom_push", True)
        kwargs.setdefault("arguments", [])
        # The XCom sidecar runs as hardened as the stage's own container (non-root, no privileges).
        security = _container(securityContext=specs.container_security_context()).security_context
        kwargs.setdefault("xcom_sidecar_container_security_context", security)
        super().__init__(env={**dict(env or {}), RESULT_FILE_ENV: XCOM_FILE}, **kwargs)

    def stage_arguments(self, context: Context) -> list[str]:
        """The stage's arguments for this run (the same as the local operator's)."""
        raise NotImplementedError

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> Any:
        """The provider's pod; its XCom sidecar gets limits and an Always pull policy like every container here."""
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        for container in pod.spec.containers:
            if container.name == SIDECAR_NAME:
                container.image_pull_policy = "Always"
                container.resources = _container(resources=SIDECAR_RESOURCES).resources
        return pod

    def finish_outcome(self, context: Context, outcome: Any) -> Any:
        return outcome

    def execute(self, context: Context) -> Any:
        self.arguments = self.stage_arguments(context)
        return self.finish_outcome(context, super().execute(context))

    def trigger_reentry(self, context: Context, event: dict[str, Any]) -> Any:
        return self.finish_outcome(context, super().trigger_reentry(context, event))


class PartitionValidatePodOperator(StagePodOperator):
    """The ``validate`` stage of one raw partition in a pod (see ``PartitionValidateOperator``)."""

    template_fields = (*StagePodOperator.template_fields, "dataset", "partition")

    def __init__(self, *, dataset: str, partition: dict[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.partition = partition

    def stage_arguments(self, context: Context) -> list[str]:
        arguments, _ = validate_arguments(self.dataset, self.partition, DataLakeHook().root_uri, context)
        return [*arguments, "--reject-code", "0"]  # a quarantine is in the outcome; finish_outcome fails the task

    def finish_outcome(self, context: Context, outcome: Any) -> Any:
        _, raw = validate_arguments(self.dataset, self.partition, DataLakeHook().root_uri, context)
        return finish_validation(context, self.outlets, dict(outcome), raw)


class DriftCheckPodOperator(StagePodOperator):
    """The ``drift`` stage in a pod (see ``DriftCheckOperator``)."""

    template_fields = (*StagePodOperator.template_fields, "dataset", "window_hours", "end")

    def __init__(self, *, dataset: str, window_hours: float | str, end: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.window_hours = window_hours
        self.end = end

    def stage_arguments(self, context: Context) -> list[str]:
        return drift_arguments(self.dataset, self.window_hours, self.end, context)

    def finish_outcome(self, context: Context, outcome: Any) -> Any:
        return finish_drift(dict(outcome))


class PartitionScorePodOperator(StagePodOperator):
    """The ``score`` stage of one validated day in a pod (see ``PartitionScoreOperator``)."""

    template_fields = (*StagePodOperator.template_fields, "dataset", "partition", "version")

    def __init__(
        self, *, dataset: str, partition: dict[str, Any] | str, version: str | int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.partition = partition
        self.version = version

    def stage_arguments(self, context: Context) -> list[str]:
        return score_arguments(self.dataset, self.partition, self.version, DataLakeHook().root_uri, context)

    def finish_outcome(self, context: Context, outcome: Any) -> Any:
        return finish_scoring(context, self.outlets, dict(outcome), self.partition)
