"""The trainer on Kubernetes: the cncf-kubernetes provider's operators, configured from a GPU profile.

These are construction helpers, not operator classes: pod creation, deferral, log streaming,
``on_kill`` and cleanup all stay the provider's (house rule 4). The pod's pieces (resources,
tolerations, ``/dev/shm``, security contexts, rendezvous environment) come from
``tradewind.k8s.specs``, the same builders the schema tests validate, so what the operator
launches and what the tests check cannot drift apart.

The profile is resolved when the DAG file is parsed: an unknown or malformed profile fails there
with the :class:`~tradewind.k8s.profiles.ProfileError` message. The provider and the kubernetes
client are imported only inside the helpers, so a DAG on the local backend never loads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.k8s import specs
from tradewind.k8s.profiles import GpuProfile, get_gpu_profile

if TYPE_CHECKING:
    from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator


def _pod_kwargs(profile: GpuProfile, args: Sequence[str], env: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The provider's keyword arguments for one trainer pod, as kubernetes client models.

    The pod is built as a dict by ``specs`` and deserialised with the provider's own
    ``PodGenerator.deserialize_model_dict``, then taken apart into the operator's parameters.
    """
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    body = specs.trainer_pod_body(profile, args, env)
    pod = PodGenerator.deserialize_model_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": body})
    container = pod.spec.containers[0]
    return {
        "image": profile.image,
        "cmds": list(specs.TRAINER_COMMAND),
        "arguments": [str(a) for a in args],
        "env_vars": container.env,
        "container_resources": container.resources,
        "node_selector": dict(profile.node_selector),
        "tolerations": pod.spec.tolerations,
        "volumes": pod.spec.volumes,
        "volume_mounts": container.volume_mounts,
        "security_context": pod.spec.security_context,
        "container_security_context": container.security_context,
        "labels": {specs.APP_LABEL: specs.APP_NAME, specs.PROFILE_LABEL: profile.name},
        "startup_timeout_seconds": profile.startup_timeout_seconds,
        "schedule_timeout_seconds": profile.schedule_timeout_seconds,
        "deferrable": True,
        "on_finish_action": "delete_pod",
    }


def _merge(derived: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Caller's keyword arguments win, except that labels add to the profile's instead of replacing them."""
    labels = {**derived.pop("labels"), **(overrides.pop("labels", None) or {})}
    return {**derived, "labels": labels, **overrides}


def trainer_pod_operator(
    task_id: str,
    profile_name: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> KubernetesPodOperator:
    """One trainer pod (``python -m tradewind.training <args>``) on the named GPU profile.

    Deferrable, and the pod is deleted when the task finishes; any other ``KubernetesPodOperator``
    argument (``namespace``, ``kubernetes_conn_id``, ``retries``, ...) passes through ``kwargs``.
    """
    profile = get_gpu_profile(profile_name)
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    derived = _pod_kwargs(profile, args, specs.env_list(env))
    return KubernetesPodOperator(task_id=task_id, name=specs.dns_name(task_id, 40), **_merge(derived, kwargs))


def trainer_job_operator(
    task_id: str,
    profile_name: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    service: str = specs.SHARED_RENDEZVOUS_SERVICE,
    **kwargs: Any,
) -> KubernetesJobOperator:
    """An indexed Job of ``profile.workers`` trainer pods that rendezvous on worker 0.

    The provider names the Job when it runs (``job-<task>-<random>``), so the workers build worker
    0's address from their own Job-name label; they resolve it through the headless Service
    ``service``, which must exist in the namespace (see ``specs.SHARED_RENDEZVOUS_SERVICE``).
    """
    profile = get_gpu_profile(profile_name)
    from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator

    service = specs.dns_name(service)
    env_entries = [*specs.rendezvous_env(profile, service=service), *specs.env_list(env)]
    derived = _pod_kwargs(profile, args, env_entries)
    derived["labels"][specs.RENDEZVOUS_LABEL] = service
    derived.update(
        subdomain=service,
        parallelism=profile.workers,
        completions=profile.workers,
        completion_mode="Indexed",
        backoff_limit=profile.backoff_limit,
        wait_until_job_complete=True,
    )
    # Short enough that "job-" + name + random suffix + "-<index>" stays a 63-character hostname.
    return KubernetesJobOperator(task_id=task_id, name=specs.dns_name(task_id, 40), **_merge(derived, kwargs))
