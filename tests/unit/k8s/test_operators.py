"""The trainer operators (subclasses of the provider's) render, without a cluster, pods and Jobs that
match their GPU profile and validate against the Kubernetes schema; the profile may be picked at run time."""

from __future__ import annotations

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


def _pod_operator(profile_name: str, **kwargs: Any) -> Any:
    from tradewind_airflow.operators.training import TrainerPodOperator

    kwargs.setdefault("namespace", "tradewind")
    return TrainerPodOperator(task_id="train_model", gpu_profile=profile_name, arguments=ARGS, **kwargs)


def _job_operator(profile_name: str, **kwargs: Any) -> Any:
    from tradewind_airflow.operators.training import TrainerJobOperator

    kwargs.setdefault("namespace", "tradewind")
    op = TrainerJobOperator(task_id="train_model", gpu_profile=profile_name, arguments=ARGS, **kwargs)
    # The provider asks its hook whether it runs in a cluster (a kube config); a stand-in answers.
    op.__dict__["hook"] = mock.Mock(is_in_cluster=False)
    return op


def _pod(profile_name: str, **kwargs: Any) -> dict[str, Any]:
    return _serialise(_pod_operator(profile_name, **kwargs).build_pod_request_obj(dry_run=True))


def _job(profile_name: str, **kwargs: Any) -> dict[str, Any]:
    return _serialise(_job_operator(profile_name, **kwargs).build_job_request_obj())


def _check_pod_matches(spec: dict[str, Any], profile: GpuProfile) -> None:
    pools = load_node_pools()
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m", "tradewind"]
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
    op = _pod_operator("gpu-t4-spot")
    op.apply_profile()
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
    profile = profiles[name]
    op = _job_operator(name)
    op.apply_profile()
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

    for build in (_pod_operator, _job_operator):
        with DAG("parse_time_profile_check", schedule=None), pytest.raises(ProfileError) as info:
            build("gpu-h100")
        assert "profile 'gpu-h100' not found (known profiles: cpu-small," in str(info.value)


def test_a_templated_profile_is_resolved_when_the_task_runs(
    profiles: dict[str, GpuProfile], validate_k8s: Validate
) -> None:
    """The train form picks the profile: the same operator renders a GPU pod or an 8-worker Job."""
    pod_op = _pod_operator("{{ params.gpu_profile }}")  # not checked at parse time: it is a template
    pod_op.gpu_profile = "gpu-t4-spot"  # what rendering the form's value gives
    pod = _serialise(pod_op.build_pod_request_obj(dry_run=True))
    _check_pod_matches(pod["spec"], profiles["gpu-t4-spot"])
    validate_k8s(pod)
    pod_op.gpu_profile = "cpu-small"  # the operator is rebuilt from the caller's arguments each time
    pod = _serialise(pod_op.build_pod_request_obj(dry_run=True))
    _check_pod_matches(pod["spec"], profiles["cpu-small"])

    job_op = _job_operator("{{ params.gpu_profile }}")
    job_op.gpu_profile = "gpu-a100-x2-ddp"
    job = _serialise(job_op.build_job_request_obj())
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == profiles["gpu-a100-x2-ddp"].workers
    _check_pod_matches(job["spec"]["template"]["spec"], profiles["gpu-a100-x2-ddp"])
    validate_k8s(job)


def test_a_templated_profile_that_renders_to_an_unknown_name_fails_before_the_cluster() -> None:
    op = _pod_operator("{{ params.gpu_profile }}")
    op.gpu_profile = "gpu-h100"
    with pytest.raises(ProfileError, match="profile 'gpu-h100' not found"):
        op.build_pod_request_obj(dry_run=True)
