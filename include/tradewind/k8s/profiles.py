"""GPU profiles: where a heavy step runs on Kubernetes, read from ``include/config/gpu_profiles.yaml``.

A profile is data (node selector, tolerations, GPU count, resources, ``/dev/shm``, timeouts, spot
policy, worker count), so adding a node pool never means editing code. DAG files resolve a profile
when they are parsed: a typo or an inconsistent profile fails there, with a message that names the
file, the profile and the key, instead of as a pod stuck Pending on a cluster an hour later.

The file also holds the node-pool contract (``node_pools``: the pool label and the GPU and spot
taints). Terraform labels and taints the node pools with the same names; the rules below check each
profile against that contract, so a profile cannot select a pool it could never be scheduled on.

The models are the config base's (:class:`~tradewind.config.StrictModel`) and :class:`ProfileError` is a
:class:`~tradewind.config.ConfigError`; a message names the profile as well as the file and the key, so
it has its own header (``<file>: profile '<name>':``) over the base's key lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator

from tradewind.config import CONFIG_DIR, ConfigError, StrictModel, format_problems, read_yaml, validation_problems

PROFILES_FILE = "gpu_profiles.yaml"
# Long enough for a cluster autoscaler to bring up a GPU node, and then to pull a CUDA image.
MIN_GPU_TIMEOUT_SECONDS = 900

_SUFFIXES: dict[str, Decimal] = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PROFILE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
M = TypeVar("M", bound=StrictModel)


class ProfileError(ConfigError):
    """A GPU profile is unknown or malformed. The message names the file, the profile and the key."""


def parse_quantity(value: str) -> Decimal:
    """A Kubernetes resource quantity (``500m``, ``2``, ``16Gi``, ``1G``) as a number of base units.

    Enough of the Kubernetes grammar to compare requests with limits; exponents (``1e3``) are
    refused on purpose, since nobody writes them in a profile and they hide typos.
    """
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity such as '500m', '2', '16Gi': {value!r}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as err:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a number: {value!r}") from err
    return number * _SUFFIXES.get(match["suffix"] or "", Decimal(1))


def _check_quantity(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a quantity string such as '2' or '16Gi', got {type(value).__name__}")
    if parse_quantity(value) <= 0:
        raise ValueError("must be greater than zero")
    return value


class Toleration(StrictModel):
    """A Kubernetes toleration; the node-pool taints are written the same way, as the toleration that matches."""

    key: str = Field(min_length=1)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    def tolerates(self, taint: Toleration) -> bool:
        """Whether this toleration lets a pod onto a node carrying ``taint`` (Kubernetes' matching rule)."""
        if self.key != taint.key or (self.effect is not None and self.effect != taint.effect):
            return False
        return self.operator == "Exists" or (self.value or "") == (taint.value or "")

    def as_k8s(self) -> dict[str, str]:
        """The toleration as Kubernetes API JSON (camelCase, no empty keys)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ResourceSet(StrictModel):
    cpu: str
    memory: str

    check_quantities = field_validator("cpu", "memory", mode="before")(_check_quantity)


class Resources(StrictModel):
    requests: ResourceSet
    limits: ResourceSet


class NodePools(StrictModel):
    """The names Terraform must give the node pools: one label key, the GPU taint and the spot taint."""

    pool_label: str = Field(min_length=1)
    gpu_taint: Toleration
    spot_taint: Toleration


class GpuProfile(StrictModel):
    """One named profile of ``gpu_profiles.yaml``; see the comment at the top of that file for each key."""

    name: str
    description: str = ""
    image: str = Field(min_length=1, pattern=r"^\S+$")
    node_selector: dict[str, str]
    tolerations: tuple[Toleration, ...]
    gpus: int = Field(ge=0)
    resources: Resources
    shm_size: str
    startup_timeout_seconds: int = Field(gt=0)
    schedule_timeout_seconds: int = Field(gt=0)
    spot: bool
    workers: int = Field(ge=1)
    backoff_limit: int = Field(ge=0)

    check_shm_size = field_validator("shm_size", mode="before")(_check_quantity)

    @field_validator("name")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if not _PROFILE_NAME.match(value):
            raise ValueError("must be lowercase letters, digits and '-', start with a letter, at most 63 characters")
        return value

    @field_validator("node_selector")
    @classmethod
    def _label_values(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [f"{k}={v}" for k, v in value.items() if not k or not _LABEL_VALUE.match(v)]
        if bad:
            raise ValueError(f"not valid Kubernetes labels: {', '.join(bad)}")
        return value

    @property
    def is_gpu(self) -> bool:
        return self.gpus > 0

    @property
    def is_distributed(self) -> bool:
        """Several workers: an indexed Job with a headless Service instead of a single pod."""
        return self.workers > 1

    def tolerates(self, taint: Toleration) -> bool:
        return any(t.tolerates(taint) for t in self.tolerations)


def _rule_problems(profile: GpuProfile, pools: NodePools) -> list[tuple[str, str]]:
    """The cross-key rules, as ``(key, what is wrong)``; one list so a user fixes a profile in one pass."""
    return [*_gpu_problems(profile, pools), *_spot_problems(profile, pools), *_resource_problems(profile)]


def _gpu_problems(profile: GpuProfile, pools: NodePools) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if profile.is_gpu:
        for key in ("startup_timeout_seconds", "schedule_timeout_seconds"):
            got = getattr(profile, key)
            if got < MIN_GPU_TIMEOUT_SECONDS:
                problems.append(
                    (key, f"must be >= {MIN_GPU_TIMEOUT_SECONDS} for a GPU profile (node scale-up), got {got}")
                )
        if not profile.tolerates(pools.gpu_taint):
            problems.append(("tolerations", f"a GPU profile must tolerate the GPU taint {_taint(pools.gpu_taint)}"))
        if pools.pool_label not in profile.node_selector:
            problems.append(("node_selector", f"a GPU profile must select its node pool with '{pools.pool_label}'"))
    return problems


def _spot_problems(profile: GpuProfile, pools: NodePools) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if profile.spot and not profile.tolerates(pools.spot_taint):
        problems.append(("tolerations", f"a spot profile must tolerate the spot taint {_taint(pools.spot_taint)}"))
    if not profile.spot and profile.tolerates(pools.spot_taint):
        problems.append(("spot", f"is false but the tolerations admit spot nodes ({_taint(pools.spot_taint)})"))
    return problems


def _resource_problems(profile: GpuProfile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    requests, limits = profile.resources.requests, profile.resources.limits
    for key in ("cpu", "memory"):
        if parse_quantity(getattr(limits, key)) < parse_quantity(getattr(requests, key)):
            problems.append(
                (f"resources.limits.{key}", f"{getattr(limits, key)} is below the request {getattr(requests, key)}")
            )
    if parse_quantity(profile.shm_size) > parse_quantity(limits.memory):
        problems.append(("shm_size", f"{profile.shm_size} exceeds the memory limit {limits.memory} it counts against"))
    return problems


def _taint(t: Toleration) -> str:
    return f"{t.key}={t.value or ''}:{t.effect or ''}"


def _format(origin: str, where: str, problems: list[tuple[str, str]]) -> str:
    return format_problems(f"{origin}: {where}:", problems)


def _parse(model: type[M], data: Any, origin: str, where: str, prefix: str = "") -> M:
    """``data`` checked against ``model``; every bad key (under ``prefix``) is named in one :class:`ProfileError`."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = [(f"{prefix}{key}", why) for key, why in validation_problems(err)]
        raise ProfileError(_format(origin, where, problems)) from None


def parse_profile(name: str, body: Any, pools: NodePools, origin: str = "<profiles>") -> GpuProfile:
    """Check one profile (the mapping under ``profiles.<name>``) against the model and the rules."""
    where = f"profile '{name}'"
    if not isinstance(body, Mapping):
        raise ProfileError(f"{origin}: {where}: must be a mapping of keys, got {type(body).__name__}")
    if "name" in body:
        raise ProfileError(f"{origin}: {where}: name: not a key of a profile (the name is its key under 'profiles')")
    profile = _parse(GpuProfile, {**body, "name": name}, origin, where)
    problems = _rule_problems(profile, pools)
    if problems:
        raise ProfileError(_format(origin, where, problems))
    return profile


def _parse_pools(origin: str, raw: Any) -> NodePools:
    return _parse(NodePools, raw, origin, "node-pool contract", prefix="node_pools.")


def _read(path: Path) -> dict[str, Any]:
    raw = read_yaml(path, "GPU profiles", ProfileError)
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: must be a mapping with 'node_pools' and 'profiles'")
    unknown = sorted(set(raw) - {"node_pools", "profiles"})
    if unknown:
        raise ProfileError(f"{path}: {unknown[0]}: unknown top-level key (expected 'node_pools' and 'profiles')")
    return raw


def default_profiles_path() -> Path:
    return CONFIG_DIR / PROFILES_FILE


def load_node_pools(path: str | Path | None = None) -> NodePools:
    """The node-pool contract alone (what Terraform must match), checked."""
    path = Path(path or default_profiles_path())
    return _parse_pools(str(path), _read(path).get("node_pools"))


def load_gpu_profiles(path: str | Path | None = None) -> dict[str, GpuProfile]:
    """Every profile of the file, checked; the first bad profile raises :class:`ProfileError`."""
    path = Path(path or default_profiles_path())
    raw = _read(path)
    pools = _parse_pools(str(path), raw.get("node_pools"))
    profiles = raw.get("profiles")
    if not isinstance(profiles, dict) or not profiles:
        raise ProfileError(f"{path}: profiles: must be a non-empty mapping of profile name to profile")
    return {str(name): parse_profile(str(name), body, pools, str(path)) for name, body in profiles.items()}


@lru_cache(maxsize=8)
def _cached_profiles(path: str) -> dict[str, GpuProfile]:
    return load_gpu_profiles(path)


def get_gpu_profile(name: str, path: str | Path | None = None) -> GpuProfile:
    """One profile by name; the file is read once per process (DAG files call this at parse time)."""
    resolved = Path(path or default_profiles_path())
    profiles = _cached_profiles(str(resolved))
    if name not in profiles:
        known = ", ".join(sorted(profiles))
        raise ProfileError(f"{resolved}: profile '{name}' not found (known profiles: {known})")
    return profiles[name]
