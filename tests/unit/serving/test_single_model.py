"""Single-model mode: the server serves one downloaded version from a folder, as KServe runs it.

KServe's storage initializer downloads a version's artifacts (``storageUri``) to ``/mnt/models``;
the ServingRuntime ``tradewind-mlflow`` starts ``python -m tradewind.serving --model-dir /mnt/models``.
Here the folder is the registered version's artifacts downloaded the same way (a plain copy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.unit.serving.conftest import AUTH, Registry, payload, server_of, wait_for
from tests.unit.serving.test_cli import _free_port, _get
from tradewind.registry.store import using_tracking_uri
from tradewind.serving.app import create_app
from tradewind.serving.config import parse_serving_config
from tradewind.serving.contract import CHAMPION
from tradewind.serving.models import FolderModelLoader

pytestmark = pytest.mark.unit


def payload_of_one() -> dict:
    return {"instances": [{"customer_id": 1, "event_time": "2026-01-08T21:14:00Z", "amount": 12.5}]}


@pytest.fixture
def version_folder(registry: Registry, store: str, tmp_path: Path) -> tuple[str, Path]:
    """Version 1 (model a) of a fresh registered model, downloaded to a folder as KServe would."""
    version = registry.add("a")
    with using_tracking_uri(store):
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{registry.name}/{version}", dst_path=str(tmp_path / "mnt-models")
        )
    return version, Path(local)


def test_a_folder_is_served_as_the_champion_with_the_registry_never_read(
    serve: Callable[..., TestClient], registry: Registry, version_folder: tuple[str, Path], raw_rows
) -> None:
    version, folder = version_folder
    client = serve(loader=FolderModelLoader(registry.name, folder, "7"))
    assert client.get("/readyz").status_code == 200

    rows = raw_rows.head(5)
    answer = client.post("/predict", json=payload(rows))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["variant"], body["model_version"]) == (CHAMPION, "7")  # the version it was told it holds
    expected = registry.model_of(version).predict_proba(rows.drop(columns=["is_fraud"]))
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-6)

    # No challenger can be split to in this mode: KServe splits between revisions instead.
    refused = client.put("/admin/traffic", json={"challenger_percent": 10}, headers=AUTH)
    assert refused.status_code == 409
    assert client.post("/admin/reload", headers=AUTH).json()["champion"] == {"version": "7"}
    # A moved alias in the registry changes nothing: the folder is what this process serves.
    registry.point(CHAMPION, registry.add("b"))
    server_of(client).holder.refresh()
    assert client.post("/predict", json=payload(rows)).json()["model_version"] == "7"


def test_a_folder_without_a_tradewind_model_is_not_ready_and_says_why(
    registry: Registry, version_folder: tuple[str, Path], tmp_path: Path, shipped_spec
) -> None:
    _, folder = version_folder
    broken = tmp_path / "only-mlmodel"
    broken.mkdir()
    shutil.copy(folder / "MLmodel", broken / "MLmodel")
    config = parse_serving_config(
        {"model_name": registry.name, "dataset": "transactions", "inference_log": {"enabled": False}}
    )
    app = create_app(config, loader=FolderModelLoader(registry.name, broken, "3"), spec=shipped_spec, admin_token="t")
    with TestClient(app) as client:
        wait_for(lambda: server_of(client).holder.last_refresh is not None, what="the first load")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "no Tradewind model" in ready.json()["reason"]
        assert str(broken) in ready.json()["reason"]
        assert client.post("/predict", json=payload_of_one()).status_code == 503


def test_the_cli_serves_a_folder(
    registry: Registry, version_folder: tuple[str, Path], tmp_path: Path, raw_rows
) -> None:
    _, folder = version_folder
    port = _free_port()
    env = {
        **os.environ,
        "TRADEWIND_STORAGE_ROOT": f"file://{tmp_path}/lake",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # never contacted in this mode
        "TRADEWIND_MODEL_DIR": str(folder),  # how the ServingRuntime passes them
        "TRADEWIND_MODEL_VERSION": "12",
        "TRADEWIND_MODEL_NAME": registry.name,
    }
    command = [sys.executable, "-m", "tradewind.serving", "--dataset", "transactions", "--port", str(port)]
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: (r := _get(f"{base}/readyz")) is not None and r.status_code == 200, 90, "the server")
        answer = httpx.post(f"{base}/predict", json=payload(raw_rows.head(2)), timeout=10)
        assert answer.status_code == 200
        assert answer.json()["model_version"] == "12"
    finally:
        server.terminate()
        server.wait(30)
    log.seek(0)
    assert "single-model mode" in log.read()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-dir", "{tmp}"], "needs --model-version"),
        (["--model-dir", "{tmp}/missing", "--model-version", "1"], "no such folder"),
    ],
)
def test_bad_single_model_arguments_exit_2_saying_what_is_wrong(tmp_path: Path, args: list[str], message: str) -> None:
    argv = [a.format(tmp=tmp_path) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND_MODEL_")}
    proc = subprocess.run(
        [sys.executable, "-m", "tradewind.serving", *argv], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
