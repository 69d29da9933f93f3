"""Shared test setup: an isolated AIRFLOW_HOME, so tests never touch ~/airflow or the demo's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="tradewind-airflow-test-"))
os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def validate_k8s() -> Callable[[dict[str, Any]], str]:
    """Strict validation (unknown fields fail) against the schema of the version Terraform targets."""

    import kubernetes_validate

    from tradewind.k8s import K8S_VERSION

    def check(manifest: dict[str, Any]) -> str:
        try:
            return kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            pytest.fail(f"{manifest['kind']} {manifest['metadata'].get('name')}: {path}: {err.message}")

    return check
