"""Builders of the trainer's Kubernetes manifests, as plain dicts (Kubernetes API JSON).

One pod (``trainer_pod_spec``) for a single worker; an indexed Job (``trainer_job_spec``) plus a
headless Service (``headless_service_spec``) for several. Every pod runs the same CLI,
``python -m tradewind <args>``, that the local backend runs as a subprocess.

Rendezvous without an operator or a CRD: an indexed Job gives each pod the hostname
``<job>-<index>``; with ``subdomain`` set to a headless Service that selects the pods, worker 0 is
reachable at ``<job>-0.<service>``. That address serves as both torchrun's c10d endpoint and the
XGBoost collective's tracker; each pod learns its rank from the completion-index annotation through
the downward API.

Nothing here calls a cluster: tests validate these dicts against the schema of ``K8S_VERSION``,
and the Airflow layer builds the provider's operators from the same pieces.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.k8s import K8S_VERSION
from tradewind.k8s.profiles import GpuProfile

__all__ = [
    "K8S_VERSION",
    "SHARED_RENDEZVOUS_SERVICE",
    "dns_name",
    "env_list",
    "headless_service_spec",
    "rendezvous_env",
    "trainer_job_spec",
    "trainer_pod_body",
    "trainer_pod_spec",
]

DEFAULT_NAMESPACE = "tradewind"
TRAINER_COMMAND = ("python", "-m", "tradewind")
# The provider's KubernetesPodOperator reads logs and exit codes from the container named "base".
CONTAINER_NAME = "base"
# The trainer image's non-root user (docker/trainer must create it with this uid and gid).
TRAINER_UID = 10001

APP_LABEL = "app.kubernetes.io/name"
APP_NAME = "tradewind-trainer"
RUN_LABEL = "tradewind.io/run"
PROFILE_LABEL = "tradewind.io/profile"
# The headless Service selects the pods of one rendezvous group by this label.
RENDEZVOUS_LABEL = "tradewind.io/rendezvous"
# One long-lived headless Service can serve every Job at once: pod hostnames are "<job>-<index>",
# unique per Job, so Jobs that share it never resolve each other's workers. The platform creates it
# once per namespace (``headless_service_spec(..., service=SHARED_RENDEZVOUS_SERVICE)``); the
# Airflow layer's Jobs, whose names the provider picks at run time, rendezvous through it.
SHARED_RENDEZVOUS_SERVICE = "tradewind-trainer-workers"

GPU_RESOURCE = "nvidia.com/gpu"
SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"  # noqa: S108 - a mount point inside the pod, not a temporary file of ours

# Set by the Job controller (Kubernetes >= 1.27) on every pod of a Job.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
MASTER_PORT = 29500  # torchrun's default c10d port
TRACKER_PORT = 9091  # XGBoost's collective tracker default port
# Room for "-<index>" after a Job name: the pod hostname "<job>-<index>" must stay a 63-character label.
JOB_NAME_MAX_LENGTH = 52

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def dns_name(value: str, max_length: int = 63) -> str:
    """``value`` as a DNS-1035 label: lowercase alphanumerics and '-', starting with a letter.

    DNS-1035 is the strictest of the Kubernetes name rules (Service names need it), so the result
    is also a valid DNS-1123 label and subdomain and label value. Airflow run ids
    (``manual__2026-01-06T12:00:00+00:00``) are neither; a name cut to fit gets a short hash of
    the whole value, so two long run ids that share a prefix stay distinct.
    """
    if max_length < 12:
        raise ValueError("max_length must leave room for a hash suffix (>= 12)")
    name = _NOT_DNS.sub("-", value.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"tw-{name}".rstrip("-")
    if len(name) > max_length:
        digest = hashlib.sha256(value.encode()).hexdigest()[:8]
        name = f"{name[: max_length - 9].rstrip('-')}-{digest}"
    return name


def env_list(env: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """``{"K": "v"}`` as Kubernetes ``env`` entries, in a stable order."""
    return [{"name": k, "value": str(v)} for k, v in sorted((env or {}).items())]


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def resources(profile: GpuProfile) -> dict[str, dict[str, str]]:
    """Requests and limits; a GPU is both requested and limited (extended resources never overcommit)."""
    requests = {"cpu": profile.resources.requests.cpu, "memory": profile.resources.requests.memory}
    limits = {"cpu": profile.resources.limits.cpu, "memory": profile.resources.limits.memory}
    if profile.is_gpu:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(profile.gpus)
    return {"requests": requests, "limits": limits}


def shm_volume(profile: GpuProfile) -> dict[str, Any]:
    """A memory-backed ``/dev/shm``: the runtime's 64 MiB default starves DataLoader workers and NCCL."""
    return {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": profile.shm_size}}


def shm_mount() -> dict[str, Any]:
    return {"name": SHM_VOLUME, "mountPath": SHM_PATH}


def pod_security_context() -> dict[str, Any]:
    """Non-root with the runtime's seccomp profile: what the restricted Pod Security Standard asks for."""
    return {
        "runAsNonRoot": True,
        "runAsUser": TRAINER_UID,
        "runAsGroup": TRAINER_UID,
        "fsGroup": TRAINER_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def trainer_labels(profile: GpuProfile, run: str) -> dict[str, str]:
    return {APP_LABEL: APP_NAME, RUN_LABEL: dns_name(run), PROFILE_LABEL: profile.name}


def profile_env(profile: GpuProfile) -> dict[str, str]:
    """What the trainer learns of its profile, so it logs where it runs and can refuse a CPU fallback."""
    return {"TRADEWIND_GPU_PROFILE": profile.name, "TRADEWIND_GPUS": str(profile.gpus)}


def trainer_container(
    profile: GpuProfile, args: Sequence[str], env: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    return {
        "name": CONTAINER_NAME,
        "image": profile.image,
        "command": list(TRAINER_COMMAND),
        "args": [str(a) for a in args],
        "env": [*env_list(profile_env(profile)), *env],
        "resources": resources(profile),
        "volumeMounts": [shm_mount()],
        "securityContext": container_security_context(),
    }


def trainer_pod_body(profile: GpuProfile, args: Sequence[str], env: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The ``spec`` of a trainer pod: shared by the single pod and every worker of the Job."""
    body: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [trainer_container(profile, args, env)],
        "volumes": [shm_volume(profile)],
    }
    if profile.node_selector:
        body["nodeSelector"] = dict(profile.node_selector)
    if profile.tolerations:
        body["tolerations"] = [t.as_k8s() for t in profile.tolerations]
    return body


def trainer_pod_spec(
    profile: GpuProfile,
    *,
    name: str,
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    run: str | None = None,
) -> dict[str, Any]:
    """A v1 Pod running the trainer once on ``profile``; ``run`` (default ``name``) labels it for lineage."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": dns_name(name), "namespace": namespace, "labels": trainer_labels(profile, run or name)},
        "spec": trainer_pod_body(profile, args, env_list(env)),
    }


def rendezvous_env(profile: GpuProfile, *, service: str, job_name: str | None = None) -> list[dict[str, Any]]:
    """Environment for torchrun (c10d) and the XGBoost collective, pointing every worker at worker 0.

    With ``job_name`` unknown (the provider names the Job when it runs), the address is built by
    Kubernetes from the Job-name label: ``$(TRADEWIND_JOB_NAME)`` expands to a variable defined
    earlier in the same list, so the order of these entries matters.
    """
    host = f"{job_name}-0.{service}" if job_name else f"$(TRADEWIND_JOB_NAME)-0.{service}"
    rank = f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"
    return [
        _field_env("TRADEWIND_JOB_NAME", f"metadata.labels['{JOB_NAME_LABEL}']"),
        _field_env("NODE_RANK", rank),
        {"name": "MASTER_ADDR", "value": host},
        {"name": "MASTER_PORT", "value": str(MASTER_PORT)},
        {"name": "WORLD_SIZE", "value": str(profile.workers)},
        {"name": "NPROC_PER_NODE", "value": str(max(profile.gpus, 1))},
        _field_env("DMLC_TASK_ID", rank),
        {"name": "DMLC_TRACKER_URI", "value": host},
        {"name": "DMLC_TRACKER_PORT", "value": str(TRACKER_PORT)},
        {"name": "DMLC_NUM_WORKER", "value": str(profile.workers)},
    ]


def trainer_job_spec(
    profile: GpuProfile,
    *,
    name: str,
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    run: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """A batch/v1 indexed Job of ``profile.workers`` trainer pods that find each other through ``service``.

    ``service`` defaults to the Job's own name; pass the same value to :func:`headless_service_spec`.
    """
    job = dns_name(name, JOB_NAME_MAX_LENGTH)
    service = dns_name(service or job)
    labels = trainer_labels(profile, run or name)
    pod_labels = {**labels, RENDEZVOUS_LABEL: service}
    pod = trainer_pod_body(profile, args, [*rendezvous_env(profile, service=service, job_name=job), *env_list(env)])
    pod["subdomain"] = service
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": profile.workers,
            "parallelism": profile.workers,
            "backoffLimit": profile.backoff_limit,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod},
        },
    }


def headless_service_spec(
    job_name: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    service: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A v1 headless Service (``clusterIP: None``) giving each worker of a Job a DNS name.

    ``publishNotReadyAddresses`` matters: workers resolve worker 0 while they are starting, before
    any of them would count as Ready.
    """
    name = dns_name(service or dns_name(job_name, JOB_NAME_MAX_LENGTH))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {APP_LABEL: APP_NAME, **(labels or {})}},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {APP_LABEL: APP_NAME, RENDEZVOUS_LABEL: name},
            "ports": [
                {"name": "c10d", "port": MASTER_PORT, "targetPort": MASTER_PORT, "protocol": "TCP"},
                {"name": "xgb-tracker", "port": TRACKER_PORT, "targetPort": TRACKER_PORT, "protocol": "TCP"},
            ],
        },
    }


# Policy checks that do not fit a batch trainer, skipped on the object itself (checkov reads these
# annotations; tests/dags/test_profiles.py runs it on every rendered pod and Job), each with its reason.
TRAINER_CHECKOV_SKIPS: dict[str, str] = {
    "checkov.io/skip1": "CKV_K8S_8=a batch trainer serves nothing: there is no endpoint for a liveness probe",
    "checkov.io/skip2": "CKV_K8S_9=a batch trainer serves nothing: there is no endpoint for a readiness probe",
    "checkov.io/skip3": "CKV_K8S_43=images come from the environment's registry by immutable release tags",
    "checkov.io/skip4": "CKV_K8S_22=torch and xgboost write caches and temporary files under HOME and /tmp",
}


def trainer_network_policy_spec(*, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    """A NetworkPolicy for trainer pods: ingress only from other trainer pods, on the rendezvous ports.

    Egress stays open (the lake, the registry's artifacts and DNS are outside the cluster).
    """
    trainers = {"podSelector": {"matchLabels": {APP_LABEL: APP_NAME}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "tradewind-trainer", "namespace": namespace, "labels": {APP_LABEL: APP_NAME}},
        "spec": {
            "podSelector": {"matchLabels": {APP_LABEL: APP_NAME}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [trainers],
                    "ports": [{"port": MASTER_PORT, "protocol": "TCP"}, {"port": TRACKER_PORT, "protocol": "TCP"}],
                }
            ],
        },
    }
