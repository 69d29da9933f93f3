"""GPU profiles: the shipped file, the node-pool contract, and bad profiles naming the key at fault."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradewind.k8s.profiles import (
    MIN_GPU_TIMEOUT_SECONDS,
    GpuProfile,
    ProfileError,
    Toleration,
    default_profiles_path,
    get_gpu_profile,
    load_gpu_profiles,
    load_node_pools,
    parse_quantity,
)

pytestmark = pytest.mark.unit

SHIPPED: dict[str, Any] = yaml.safe_load(default_profiles_path().read_text(encoding="utf-8"))


def test_the_shipped_file_has_the_profiles_the_dags_name(profiles: dict[str, GpuProfile]) -> None:
    assert {"cpu-small", "gpu-t4-spot", "gpu-a100", "gpu-a100-x2-ddp"} <= set(profiles)
    assert profiles["cpu-small"].gpus == 0
    assert not profiles["cpu-small"].node_selector
    assert profiles["gpu-t4-spot"].spot
    assert profiles["gpu-t4-spot"].gpus == 1
    assert profiles["gpu-a100"].gpus == 1
    assert not profiles["gpu-a100"].spot
    ddp = profiles["gpu-a100-x2-ddp"]
    assert (ddp.workers, ddp.gpus, ddp.is_distributed) == (2, 1, True)


def test_the_node_pool_contract_terraform_must_match() -> None:
    pools = load_node_pools()
    assert pools.pool_label == "tradewind.io/pool"
    assert (pools.gpu_taint.key, pools.gpu_taint.value, pools.gpu_taint.effect) == (
        "nvidia.com/gpu",
        "present",
        "NoSchedule",
    )
    assert (pools.spot_taint.key, pools.spot_taint.value, pools.spot_taint.effect) == (
        "tradewind.io/spot",
        "true",
        "NoSchedule",
    )


@pytest.mark.parametrize("name", sorted(SHIPPED["profiles"]))
def test_every_shipped_profile_keeps_the_rules(name: str, profiles: dict[str, GpuProfile]) -> None:
    p, pools = profiles[name], load_node_pools()
    assert p.tolerates(pools.spot_taint) == p.spot
    if p.is_gpu:
        assert p.startup_timeout_seconds >= MIN_GPU_TIMEOUT_SECONDS
        assert p.schedule_timeout_seconds >= MIN_GPU_TIMEOUT_SECONDS
        assert p.tolerates(pools.gpu_taint)
        assert pools.pool_label in p.node_selector
        assert p.image.endswith(":cuda")
    else:
        assert p.image.endswith(":cpu")


def test_profiles_are_frozen(profiles: dict[str, GpuProfile]) -> None:
    with pytest.raises(ValueError, match="frozen"):
        profiles["gpu-a100"].gpus = 8  # type: ignore[misc]


def test_a_profile_error_is_a_config_error() -> None:
    from tradewind.config import ConfigError, StrictModel

    assert issubclass(ProfileError, ConfigError)
    assert issubclass(GpuProfile, StrictModel)
    assert issubclass(Toleration, StrictModel)


def test_get_gpu_profile_reads_the_default_file() -> None:
    assert get_gpu_profile("gpu-a100").name == "gpu-a100"


def test_an_unknown_profile_names_the_file_and_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError) as info:
        get_gpu_profile("gpu-h100")
    msg = str(info.value)
    assert str(default_profiles_path()) in msg
    assert "'gpu-h100' not found" in msg
    assert "cpu-small, cpu-small-x2, gpu-a100, gpu-a100-x2-ddp, gpu-t4-spot" in msg


def _set(profile: str, dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, leaf = dotted.split(".")
        node = data["profiles"][profile]
        for key in parents:
            node = node[key]
        node[leaf] = value

    return mutate


def _drop(profile: str, key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["profiles"][profile].pop(key)


GPU = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
SPOT = {"key": "tradewind.io/spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}

# (case id, mutation, profile, key named in the message, words of the reason)
BAD = [
    (
        "short-startup",
        _set("gpu-a100", "startup_timeout_seconds", 300),
        "gpu-a100",
        "startup_timeout_seconds",
        ">= 900",
    ),
    (
        "short-schedule",
        _set("gpu-t4-spot", "schedule_timeout_seconds", 120),
        "gpu-t4-spot",
        "schedule_timeout_seconds",
        "scale-up",
    ),
    ("negative-gpus", _set("cpu-small", "gpus", -1), "cpu-small", "gpus", "greater than or equal to 0"),
    ("zero-workers", _set("gpu-a100-x2-ddp", "workers", 0), "gpu-a100-x2-ddp", "workers", "greater than or equal to 1"),
    (
        "cpu-limit-below-request",
        _set("gpu-a100", "resources.limits.cpu", "4"),
        "gpu-a100",
        "resources.limits.cpu",
        "below the request 8",
    ),
    (
        "memory-limit-below-request",
        _set("cpu-small", "resources.limits.memory", "1Gi"),
        "cpu-small",
        "resources.limits.memory",
        "below the request",
    ),
    (
        "spot-without-spot-toleration",
        _set("gpu-t4-spot", "tolerations", [GPU]),
        "gpu-t4-spot",
        "tolerations",
        "spot taint tradewind.io/spot=true:NoSchedule",
    ),
    (
        "gpu-without-gpu-toleration",
        _set("gpu-a100", "tolerations", []),
        "gpu-a100",
        "tolerations",
        "GPU taint nvidia.com/gpu=present:NoSchedule",
    ),
    ("on-demand-admits-spot", _set("gpu-a100", "tolerations", [GPU, SPOT]), "gpu-a100", "spot", "admit spot nodes"),
    ("gpu-without-pool", _set("gpu-a100", "node_selector", {}), "gpu-a100", "node_selector", "tradewind.io/pool"),
    ("typo-key", _set("gpu-a100", "gpu", 1), "gpu-a100", "gpu", "Extra inputs are not permitted"),
    ("missing-image", _drop("gpu-a100", "image"), "gpu-a100", "image", "Field required"),
    ("bad-quantity", _set("gpu-a100", "shm_size", "16 GB"), "gpu-a100", "shm_size", "not a Kubernetes quantity"),
    (
        "shm-above-memory-limit",
        _set("cpu-small", "shm_size", "8Gi"),
        "cpu-small",
        "shm_size",
        "exceeds the memory limit 4Gi",
    ),
    (
        "bad-toleration-effect",
        _set("cpu-small", "tolerations", [{"key": "a", "effect": "Never"}]),
        "cpu-small",
        "tolerations.0.effect",
        "NoSchedule",
    ),
    (
        "bad-label-value",
        _set("gpu-a100", "node_selector", {"tradewind.io/pool": "gpu a100"}),
        "gpu-a100",
        "node_selector",
        "not valid Kubernetes labels",
    ),
    (
        "zero-cpu",
        _set("cpu-small", "resources.requests.cpu", "0"),
        "cpu-small",
        "resources.requests.cpu",
        "greater than zero",
    ),
]


@pytest.mark.parametrize(("mutate", "profile", "key", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_profile_names_the_file_the_profile_and_the_key(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], profile: str, key: str, reason: str
) -> None:
    data = copy.deepcopy(SHIPPED)
    mutate(data)
    path = tmp_path / "gpu_profiles.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_gpu_profiles(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: profile '{profile}':"), msg
    assert f"\n  {key}: " in msg, msg
    assert reason in msg, msg


def test_a_bad_profile_name_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(SHIPPED)
    data["profiles"]["GPU_Big"] = data["profiles"].pop("gpu-a100")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"profile 'GPU_Big':\n  name: must be lowercase"):
        load_gpu_profiles(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "must be a mapping with 'node_pools' and 'profiles'"),
        ("profiles: [\n", "not valid YAML"),
        ("node_pools: {}\nprofiles: {}\nextra: 1\n", "extra: unknown top-level key"),
        ("node_pools: {pool_label: x}\nprofiles: {}\n", "node_pools.gpu_taint: Field required"),
    ],
    ids=["empty", "bad-yaml", "unknown-top-level-key", "incomplete-node-pools"],
)
def test_a_bad_file_is_refused_with_its_path(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "gpu_profiles.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=str(path)) as info:
        load_gpu_profiles(path)
    assert expected in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="GPU profiles file not found"):
        load_gpu_profiles(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("quantity", "units"),
    [
        ("500m", "0.5"),
        ("2", "2"),
        ("1.5", "1.5"),
        ("16Gi", str(16 * 2**30)),
        ("1G", "1000000000"),
        ("64Mi", str(64 * 2**20)),
    ],
)
def test_parse_quantity(quantity: str, units: str) -> None:
    assert parse_quantity(quantity) == Decimal(units)


@pytest.mark.parametrize("quantity", ["", "abc", "1e3", "-1", "16 Gi", "2gi"])
def test_parse_quantity_refuses(quantity: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(quantity)


@pytest.mark.parametrize(
    ("toleration", "tolerates"),
    [
        ({"key": "nvidia.com/gpu", "operator": "Exists"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "nvidia.com/gpu", "value": "present"}, True),
        ({"key": "nvidia.com/gpu", "value": "absent", "effect": "NoSchedule"}, False),
        ({"key": "other", "operator": "Exists"}, False),
    ],
)
def test_toleration_matching_follows_kubernetes(toleration: dict[str, str], tolerates: bool) -> None:
    taint = Toleration(key="nvidia.com/gpu", value="present", effect="NoSchedule")
    assert Toleration.model_validate(toleration).tolerates(taint) is tolerates
