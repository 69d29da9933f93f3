"""Trainer manifests: every profile's Pod, indexed Job and headless Service pass the Kubernetes schema strictly."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from tradewind.k8s import K8S_VERSION
from tradewind.k8s.profiles import GpuProfile, load_gpu_profiles, load_node_pools
from tradewind.k8s.specs import (
    COMPLETION_INDEX_ANNOTATION,
    JOB_NAME_MAX_LENGTH,
    SHARED_RENDEZVOUS_SERVICE,
    dns_name,
    headless_service_spec,
    trainer_job_spec,
    trainer_pod_spec,
)

pytestmark = pytest.mark.unit

PROFILE_NAMES = sorted(load_gpu_profiles())
RUN_ID = "manual__2026-01-06T12:00:00.123456+00:00"
ARGS = ["train", "--framework", "xgboost", "--data-hash", "abc123"]
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

Validate = Callable[[dict[str, Any]], str]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_k8s_version_is_one_kubernetes_validate_knows() -> None:
    assert K8S_VERSION == "1.33.0"
    assert K8S_VERSION in kubernetes_validate.utils.all_versions()


def test_strict_validation_catches_an_unknown_field(profiles: dict[str, GpuProfile]) -> None:
    """Guard for the guard: without strict mode, a misspelt key would pass silently."""
    pod = trainer_pod_spec(profiles["gpu-a100"], name="r", args=ARGS)
    pod["spec"]["containers"][0]["resource"] = pod["spec"]["containers"][0].pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError, match="resource"):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_the_pod_of_every_profile_validates(name: str, profiles: dict[str, GpuProfile], validate_k8s: Validate) -> None:
    pod = trainer_pod_spec(profiles[name], name=RUN_ID, args=ARGS, env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"})
    assert validate_k8s(pod) == "1.33"


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_the_indexed_job_and_service_of_every_profile_validate(
    name: str, profiles: dict[str, GpuProfile], validate_k8s: Validate
) -> None:
    job = trainer_job_spec(profiles[name], name=RUN_ID, args=ARGS, env={"A": "1"})
    service = headless_service_spec(job["metadata"]["name"])
    assert validate_k8s(job) == validate_k8s(service) == "1.33"


def test_the_shared_rendezvous_service_validates(validate_k8s: Validate) -> None:
    service = headless_service_spec("unused", service=SHARED_RENDEZVOUS_SERVICE)
    assert service["metadata"]["name"] == SHARED_RENDEZVOUS_SERVICE
    validate_k8s(service)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_the_pod_carries_the_profile(name: str, profiles: dict[str, GpuProfile]) -> None:
    profile, pools = profiles[name], load_node_pools()
    spec = trainer_pod_spec(profile, name=RUN_ID, args=ARGS)["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m", "tradewind"]
    assert container["args"] == ARGS
    assert container["image"] == profile.image
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    res = container["resources"]
    assert (res["requests"]["cpu"], res["limits"]["memory"]) == (
        profile.resources.requests.cpu,
        profile.resources.limits.memory,
    )
    if profile.is_gpu:
        assert res["limits"]["nvidia.com/gpu"] == res["requests"]["nvidia.com/gpu"] == str(profile.gpus)
        assert spec["nodeSelector"][pools.pool_label] == profile.node_selector[pools.pool_label]
        assert pools.gpu_taint.as_k8s() in spec["tolerations"]
    else:
        assert "nvidia.com/gpu" not in res["limits"]
        assert "nvidia.com/gpu" not in res["requests"]
    assert (pools.spot_taint.as_k8s() in spec.get("tolerations", [])) is profile.spot
    (volume,) = spec["volumes"]
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": profile.shm_size}
    assert {"name": volume["name"], "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert _env(container)["TRADEWIND_GPU_PROFILE"] == name


def test_spot_profiles_carry_the_spot_toleration(profiles: dict[str, GpuProfile]) -> None:
    spot = [p for p in profiles.values() if p.spot]
    assert spot, "the shipped file should have a spot profile"
    for profile in spot:
        tolerations = trainer_pod_spec(profile, name="r", args=ARGS)["spec"]["tolerations"]
        assert {"key": "tradewind.io/spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in tolerations


def test_the_pod_is_labelled_with_the_run_and_the_profile(profiles: dict[str, GpuProfile]) -> None:
    meta = trainer_pod_spec(profiles["cpu-small"], name="trainer", run=RUN_ID, args=ARGS, namespace="ml")["metadata"]
    assert meta["name"] == "trainer"
    assert meta["namespace"] == "ml"
    assert meta["labels"] == {
        "app.kubernetes.io/name": "tradewind-trainer",
        "tradewind.io/run": dns_name(RUN_ID),
        "tradewind.io/profile": "cpu-small",
    }


def test_the_indexed_job_rendezvous_on_worker_zero(profiles: dict[str, GpuProfile]) -> None:
    profile = profiles["gpu-a100-x2-ddp"]
    job = trainer_job_spec(profile, name="fraud-xgb-2026-01-06", args=ARGS, service="fraud-workers")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == profile.workers == 2
    assert spec["backoffLimit"] == profile.backoff_limit
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == "fraud-workers"
    env = _env(pod["containers"][0])
    rank = {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}
    assert env["MASTER_ADDR"] == env["DMLC_TRACKER_URI"] == "fraud-xgb-2026-01-06-0.fraud-workers"
    assert env["NODE_RANK"] == env["DMLC_TASK_ID"] == rank
    assert (env["MASTER_PORT"], env["DMLC_TRACKER_PORT"]) == ("29500", "9091")
    assert env["WORLD_SIZE"] == env["DMLC_NUM_WORKER"] == "2"


def test_the_service_selects_exactly_the_job_pods(profiles: dict[str, GpuProfile]) -> None:
    job = trainer_job_spec(profiles["cpu-small-x2"], name=RUN_ID, args=ARGS)
    service = headless_service_spec(RUN_ID)
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["metadata"]["name"] == job["spec"]["template"]["spec"]["subdomain"]
    other = trainer_job_spec(profiles["cpu-small-x2"], name=RUN_ID + "-other", args=ARGS)
    assert not service["spec"]["selector"].items() <= other["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fraud-train", "fraud-train"),
        ("Fraud_Train.v2", "fraud-train-v2"),
        ("manual__2026-01-06T12:00:00+00:00", "manual-2026-01-06t12-00-00-00-00"),
        ("2026-01-06", "tw-2026-01-06"),
        ("--x--", "x"),
        ("___", "tw"),
    ],
)
def test_dns_name_sanitises(value: str, expected: str) -> None:
    assert dns_name(value) == expected


@pytest.mark.parametrize(
    "value", [RUN_ID * 3, "a" * 64, "scheduled__" + "9" * 80, "ÄÖÜ" * 30, "-" * 70, "x.y" * 40, "0" * 63]
)
@pytest.mark.parametrize("max_length", [63, JOB_NAME_MAX_LENGTH, 20])
def test_dns_names_are_valid_and_fit(value: str, max_length: int) -> None:
    name = dns_name(value, max_length)
    assert DNS_1035.match(name), name
    assert len(name) <= max_length


def test_truncated_names_stay_distinct() -> None:
    a, b = "scheduled__" + "1" * 80, "scheduled__" + "1" * 79 + "2"
    assert dns_name(a) != dns_name(b)
    assert dns_name(a) == dns_name(a)


def test_a_long_run_id_still_makes_valid_job_hostnames(profiles: dict[str, GpuProfile], validate_k8s: Validate) -> None:
    job = trainer_job_spec(profiles["gpu-a100-x2-ddp"], name=RUN_ID * 4, args=ARGS)
    name = job["metadata"]["name"]
    assert len(f"{name}-{profiles['gpu-a100-x2-ddp'].workers - 1}") <= 63
    validate_k8s(job)
