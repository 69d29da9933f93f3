"""The provider's operators built from a profile render, without a cluster, pods that match it and validate."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from tradewind.k8s.profiles import GpuProfile, ProfileError, load_gpu_profiles, load_node_pools
from tradewind.k8s.specs import COMPLETION_INDEX_ANNOTATION, SHARED_RENDEZVOUS_SERVICE

pytestmark = pytest.mark.unit

PROFILE_NAMES = sorted(load_gpu_profiles())
DISTRIBUTED = sorted(n for n, p in load_gpu_profiles().items() if p.is_distributed)
ARGS = ["train", "--framework", "torch"]

Validate = Callable[[dict[str, Any]], str]


def _serialise(obj: Any) -> dict[str, Any]:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(obj)


def _pod(profile_name: str, **kwargs: Any) -> dict[str, Any]:
    from tradewind_airflow.operators.training import trainer_pod_operator

    op = trainer_pod_operator("train_model", profile_name, ARGS, namespace="tradewind", **kwargs)
    return _serialise(op.build_pod_request_obj(dry_run=True))


def _job(profile_name: str, **kwargs: Any) -> dict[str, Any]:
    from tradewind_airflow.operators.training import trainer_job_operator

    op = trainer_job_operator("train_model", profile_name, ARGS, namespace="tradewind", **kwargs)
    # The provider asks its hook whether it runs in a cluster (a kube config); a stand-in answers.
    op.__dict__["hook"] = mock.Mock(is_in_cluster=False)
    return _serialise(op.build_job_request_obj())


def _check_pod_matches(spec: dict[str, Any], profile: GpuProfile) -> None:
    pools = load_node_pools()
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m", "tradewind.training"]
    assert container["args"] == ARGS
    assert container["image"] == profile.image
    expected_limits = {"cpu": profile.resources.limits.cpu, "memory": profile.resources.limits.memory}
    expected_requests = {"cpu": profile.resources.requests.cpu, "memory": profile.resources.requests.memory}
    if profile.is_gpu:
        expected_limits["nvidia.com/gpu"] = expected_requests["nvidia.com/gpu"] = str(profile.gpus)
    assert container["resources"] == {"limits": expected_limits, "requests": expected_requests}
    assert spec.get("nodeSelector", {}) == profile.node_selector
    assert spec.get("tolerations", []) == [t.as_k8s() for t in profile.tolerations]
    assert (pools.spot_taint.as_k8s() in spec.get("tolerations", [])) is profile.spot
    assert {"emptyDir": {"medium": "Memory", "sizeLimit": profile.shm_size}, "name": "dshm"} in spec["volumes"]
    assert {"mountPath": "/dev/shm", "name": "dshm"} in container["volumeMounts"]
    assert spec["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_the_pod_operator_renders_the_profile(
    name: str, profiles: dict[str, GpuProfile], validate_k8s: Validate
) -> None:
    pod = _pod(name)
    _check_pod_matches(pod["spec"], profiles[name])
    assert pod["metadata"]["labels"]["tradewind.io/profile"] == name
    validate_k8s(pod)


def test_the_pod_operator_is_deferrable_with_the_profile_timeouts(profiles: dict[str, GpuProfile]) -> None:
    from tradewind_airflow.operators.training import trainer_pod_operator

    op = trainer_pod_operator("train_model", "gpu-t4-spot", ARGS)
    assert op.deferrable is True
    assert op.on_finish_action.value == "delete_pod"
    assert op.startup_timeout_seconds == profiles["gpu-t4-spot"].startup_timeout_seconds
    assert op.schedule_timeout_seconds == profiles["gpu-t4-spot"].schedule_timeout_seconds


def test_caller_arguments_win_and_labels_add(validate_k8s: Validate) -> None:
    pod = _pod("cpu-small", env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, labels={"team": "fraud"})
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["TRADEWIND_GPU_PROFILE"] == "cpu-small"
    assert pod["metadata"]["labels"]["team"] == "fraud"
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "tradewind-trainer"
    validate_k8s(pod)


@pytest.mark.parametrize("name", DISTRIBUTED)
def test_the_job_operator_renders_an_indexed_job(
    name: str, profiles: dict[str, GpuProfile], validate_k8s: Validate
) -> None:
    from tradewind_airflow.operators.training import trainer_job_operator

    profile = profiles[name]
    op = trainer_job_operator("train_model", name, ARGS)
    assert (op.parallelism, op.completions, op.completion_mode) == (profile.workers, profile.workers, "Indexed")
    assert (op.backoff_limit, op.wait_until_job_complete, op.deferrable) == (profile.backoff_limit, True, True)

    job = _job(name)
    validate_k8s(job)
    assert len(job["metadata"]["name"]) + len(f"-{profile.workers - 1}") <= 63
    template = job["spec"]["template"]
    _check_pod_matches(template["spec"], profile)
    assert template["spec"]["subdomain"] == SHARED_RENDEZVOUS_SERVICE
    assert template["metadata"]["labels"]["tradewind.io/rendezvous"] == SHARED_RENDEZVOUS_SERVICE
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in template["spec"]["containers"][0]["env"]}
    assert env["MASTER_ADDR"] == f"$(TRADEWIND_JOB_NAME)-0.{SHARED_RENDEZVOUS_SERVICE}"
    assert env["NODE_RANK"] == {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}
    names = [e["name"] for e in template["spec"]["containers"][0]["env"]]
    assert names.index("TRADEWIND_JOB_NAME") < names.index("MASTER_ADDR"), "$(VAR) only expands earlier variables"


def test_an_unknown_profile_fails_while_the_dag_is_parsed() -> None:
    from airflow.sdk import DAG

    from tradewind_airflow.operators.training import trainer_job_operator, trainer_pod_operator

    for helper in (trainer_pod_operator, trainer_job_operator):
        with DAG("parse_time_profile_check", schedule=None), pytest.raises(ProfileError) as info:
            helper("train_model", "gpu-h100", ARGS)
        assert "profile 'gpu-h100' not found (known profiles: cpu-small," in str(info.value)


def test_importing_the_helpers_loads_neither_the_provider_nor_kubernetes() -> None:
    code = (
        "import sys, tradewind_airflow.operators.training\n"
        "print(sorted(m for m in ('kubernetes', 'airflow.providers.cncf.kubernetes') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
