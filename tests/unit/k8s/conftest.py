"""Fixtures of the Kubernetes spec tests: the shipped profiles and a strict schema check."""

from __future__ import annotations

import pytest

from tradewind.k8s.profiles import GpuProfile, load_gpu_profiles


@pytest.fixture(scope="session")
def profiles() -> dict[str, GpuProfile]:
    return load_gpu_profiles()
