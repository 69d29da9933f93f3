"""Store location and the registry lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tradewind.registry.store import (
    MLFLOW_DIR,
    RegistryLockTimeout,
    default_tracking_uri,
    local_store_path,
    registry_lock,
    resolve_tracking_uri,
)
from tradewind.settings import REPO_ROOT

pytestmark = pytest.mark.unit


def test_default_store_is_sqlite_under_the_ignored_data_dir() -> None:
    assert default_tracking_uri() == f"sqlite:///{REPO_ROOT}/data/mlflow/mlflow.db"
    assert MLFLOW_DIR.relative_to(REPO_ROOT).parts[0] == "data"


def test_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == default_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://mlflow@db/mlflow")
    assert resolve_tracking_uri() == "postgresql://mlflow@db/mlflow"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("sqlite:////tmp/a/mlflow.db", Path("/tmp/a/mlflow.db")),
        ("sqlite:///rel.db", Path("rel.db")),
        ("file:///tmp/mlruns", Path("/tmp/mlruns")),
        ("/tmp/mlruns", Path("/tmp/mlruns")),
        ("postgresql://u@h/db", None),
        ("http://mlflow:5000", None),
    ],
)
def test_local_store_path(uri: str, path: Path | None) -> None:
    assert local_store_path(uri) == path


@pytest.mark.parametrize("mode", ["file", "registry"])
def test_lock_excludes_a_second_holder(client: MlflowClient, mode: str) -> None:
    name = f"lock-test-{mode}"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with registry_lock(client, name, mode=mode):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    with pytest.raises(RegistryLockTimeout), registry_lock(client, name, mode=mode, timeout_s=0.2):
        pass
    release.set()
    thread.join()
    with registry_lock(client, name, mode=mode, timeout_s=1):
        pass


def test_stale_registry_mutex_is_broken(client: MlflowClient) -> None:
    client.create_registered_model("stale.tradewind-lock", tags={"owner": "dead", "acquired_at": "0"})
    with registry_lock(client, "stale", mode="registry", timeout_s=2):
        pass
