"""The trainer on Kubernetes: the cncf-kubernetes provider's operators, configured from a GPU profile.

``TrainerPodOperator`` (one pod) and ``TrainerJobOperator`` (an indexed Job whose workers
rendezvous on worker 0) subclass the provider's operators and only fill in their fields: pod
creation, deferral, log streaming, ``on_kill`` and cleanup stay the provider's (house rule 4).
The pod's pieces (resources, tolerations, ``/dev/shm``, security contexts, rendezvous
environment) come from ``tradewind.k8s.specs``, the same builders the schema tests validate.

``gpu_profile`` is a template field, so the train form can pick the profile of a run. A literal
name is checked when the DAG file is parsed (an unknown or malformed profile fails there with the
:class:`~tradewind.k8s.profiles.ProfileError` message); a templated one is resolved when the task
runs, before anything is sent to the cluster.

This module imports the provider (and so the kubernetes client): DAG files import it only when
the environment profile offers the ``kubernetes`` backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

from tradewind.k8s import specs
from tradewind.k8s.profiles import GpuProfile, get_gpu_profile
from tradewind.settings import get_settings

# The operator fields a GPU profile sets. A caller's own keyword argument for one of them wins.
PROFILE_FIELDS = (
    "image",
    "env_vars",
    "container_resources",
    "node_selector",
    "tolerations",
    "volumes",
    "volume_mounts",
    "security_context",
    "container_security_context",
    "startup_timeout_seconds",
    "schedule_timeout_seconds",
)


def profile_fields(profile: GpuProfile, args: Sequence[str], env: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The provider's fields for one trainer pod on ``profile``, as kubernetes client models.

    The pod is built as a dict by ``specs`` and deserialised with the provider's own
    ``PodGenerator.deserialize_model_dict``, then taken apart into the operator's fields.
    """
    body = specs.trainer_pod_body(profile, args, env)
    pod = PodGenerator.deserialize_model_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": body})
    container = pod.spec.containers[0]
    return {
        "image": get_settings().training.image(profile.image),  # the environment's registry, if it has one
        "env_vars": container.env,
        "container_resources": container.resources,
        "node_selector": dict(profile.node_selector),
        "tolerations": pod.spec.tolerations or [],
        "volumes": pod.spec.volumes,
        "volume_mounts": container.volume_mounts,
        "security_context": pod.spec.security_context,
        "container_security_context": container.security_context,
        "startup_timeout_seconds": profile.startup_timeout_seconds,
        "schedule_timeout_seconds": profile.schedule_timeout_seconds,
    }


def _is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


class _GpuProfileFields:
    """Shared by both operators: remember the caller's arguments, apply the profile when the task runs."""

    gpu_profile: str
    trainer_env: dict[str, str]
    labels: dict[str, str]
    arguments: list[str]
    _caller_fields: dict[str, Any]
    _caller_labels: dict[str, str]

    def _remember(self, task_id: str, gpu_profile: str, env: Mapping[str, str] | None, kwargs: dict[str, Any]) -> None:
        """Keep the caller's arguments; add the defaults both operators share (name, deferrable)."""
        kwargs.setdefault("name", specs.dns_name(task_id, 40))  # + "job-" + suffix + "-<index>" <= 63
        kwargs.setdefault("deferrable", True)
        kwargs.setdefault("image_pull_policy", "Always")
        # The trainer never calls the Kubernetes API (IRSA and Workload Identity bring their own token).
        kwargs.setdefault("automount_service_account_token", False)
        kwargs["annotations"] = {**specs.TRAINER_CHECKOV_SKIPS, **(kwargs.get("annotations") or {})}
        if not _is_template(gpu_profile):
            get_gpu_profile(gpu_profile)  # parse time: fail here, not on the cluster
        self.gpu_profile = gpu_profile
        self.trainer_env = dict(env or {})
        self._caller_fields = {k: kwargs[k] for k in PROFILE_FIELDS if k in kwargs}
        self._caller_labels = dict(kwargs.get("labels") or {})

    def profile(self) -> GpuProfile:
        """The GPU profile of this run (after templating)."""
        return get_gpu_profile(str(self.gpu_profile).strip())

    def _extra_env(self, profile: GpuProfile) -> list[dict[str, Any]]:
        return specs.env_list(self.trainer_env)

    def apply_profile(self) -> GpuProfile:
        """Set the profile's fields (idempotent: every call starts again from the caller's arguments)."""
        profile = self.profile()
        fields = profile_fields(profile, self.arguments, self._extra_env(profile))
        for name, value in {**fields, **self._caller_fields}.items():
            setattr(self, name, value)
        self.labels = {
            specs.APP_LABEL: specs.APP_NAME,
            specs.PROFILE_LABEL: profile.name,
            **self._extra_labels(),
            **self._caller_labels,
        }
        return profile

    def _extra_labels(self) -> dict[str, str]:
        return {}


class TrainerPodOperator(_GpuProfileFields, KubernetesPodOperator):
    """``python -m tradewind.training <arguments>`` in one pod on a GPU profile; deferrable.

    :param gpu_profile: a profile name of include/config/gpu_profiles.yaml (templated).
    :param arguments: the trainer CLI's arguments (each templated).
    :param env: extra environment for the trainer (``TRADEWIND_PROFILE``, ...).

    Any other ``KubernetesPodOperator`` argument (``namespace``, ``kubernetes_conn_id``, ...) passes
    through; the pod is deleted when the task finishes.
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "gpu_profile")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        task_id: str,
        gpu_profile: str,
        arguments: Sequence[str],
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._remember(task_id, gpu_profile, env, kwargs)
        kwargs.setdefault("on_finish_action", "delete_pod")
        super().__init__(task_id=task_id, cmds=list(specs.TRAINER_COMMAND), arguments=list(arguments), **kwargs)

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> Any:
        profile = self.apply_profile()
        self.log.info("Trainer pod on GPU profile %s (%d GPU(s), image %s)", profile.name, profile.gpus, self.image)
        return super().build_pod_request_obj(context, dry_run=dry_run)


class TrainerJobOperator(_GpuProfileFields, KubernetesJobOperator):
    """An indexed Job of ``profile.workers`` trainer pods that rendezvous on worker 0; deferrable.

    The provider names the Job when it runs (``job-<task>-<random>``), so the workers build worker
    0's address from their own Job-name label; they resolve it through the headless Service
    ``service``, which must exist in the namespace (the platform creates
    ``specs.SHARED_RENDEZVOUS_SERVICE``). torchrun (c10d) or the XGBoost tracker listens on worker 0.
    """

    template_fields: Sequence[str] = (*KubernetesJobOperator.template_fields, "gpu_profile")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        task_id: str,
        gpu_profile: str,
        arguments: Sequence[str],
        env: Mapping[str, str] | None = None,
        service: str = specs.SHARED_RENDEZVOUS_SERVICE,
        **kwargs: Any,
    ) -> None:
        self._remember(task_id, gpu_profile, env, kwargs)
        self.service = specs.dns_name(service)
        kwargs.setdefault("wait_until_job_complete", True)
        kwargs.setdefault("completion_mode", "Indexed")
        kwargs.setdefault("parallelism", 1)  # set from the profile when the task runs
        super().__init__(
            task_id=task_id,
            cmds=list(specs.TRAINER_COMMAND),
            arguments=list(arguments),
            subdomain=self.service,
            **kwargs,
        )

    def _extra_env(self, profile: GpuProfile) -> list[dict[str, Any]]:
        return [*specs.rendezvous_env(profile, service=self.service), *specs.env_list(self.trainer_env)]

    def _extra_labels(self) -> dict[str, str]:
        return {specs.RENDEZVOUS_LABEL: self.service}

    def apply_profile(self) -> GpuProfile:
        profile = super().apply_profile()
        self.parallelism = self.completions = profile.workers
        self.backoff_limit = profile.backoff_limit
        return profile

    def execute(self, context: Any) -> Any:
        profile = self.apply_profile()  # the provider checks parallelism before it builds the Job
        self.log.info(
            "Trainer Job on GPU profile %s: %d worker(s) x %d GPU(s), rendezvous through Service %s",
            profile.name,
            profile.workers,
            profile.gpus,
            self.service,
        )
        return super().execute(context)

    def build_job_request_obj(self, context: Any = None) -> Any:
        self.apply_profile()
        return super().build_job_request_obj(context)
