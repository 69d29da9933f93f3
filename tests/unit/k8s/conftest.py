"""Fixtures of the Kubernetes spec tests: the shipped profiles and a strict schema check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from tradewind.k8s import K8S_VERSION
from tradewind.k8s.profiles import GpuProfile, load_gpu_profiles


@pytest.fixture(scope="session")
def profiles() -> dict[str, GpuProfile]:
    return load_gpu_profiles()


@pytest.fixture(scope="session")
def validate_k8s() -> Callable[[dict[str, Any]], str]:
    """Strict validation (unknown fields fail) against the schema of the version Terraform targets."""

    def check(manifest: dict[str, Any]) -> str:
        try:
            return kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            pytest.fail(f"{manifest['kind']} {manifest['metadata'].get('name')}: {path}: {err.message}")

    return check
