"""``python -m tradewind.serving``: starts without a champion, says so, and serves once one appears."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.unit.serving.conftest import Registry, payload, wait_for
from tradewind.serving.contract import CHAMPION

pytestmark = pytest.mark.unit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_the_server_starts_not_ready_and_polls_until_a_champion_appears(
    registry: Registry, store: str, tmp_path: Path, raw_rows
) -> None:
    version = registry.add("a")
    config = tmp_path / "serving.yaml"
    config.write_text("reload_interval_s: 0.3\ninference_log: {flush_interval_s: 0.2}\n")
    port = _free_port()
    env = {**os.environ, "TRADEWIND_STORAGE_ROOT": f"file://{tmp_path}/lake", "MLFLOW_TRACKING_URI": store}
    command = [sys.executable, "-m", "tradewind.serving", "--model-name", registry.name, "--dataset", "transactions"]
    command += ["--port", str(port), "--config", str(config)]
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{base}/healthz") is not None, timeout_s=60, what="the server to listen")
        wait_for(
            lambda: "no 'champion' alias yet" in _get(f"{base}/readyz").json()["reason"],
            what="the first registry read",
        )
        assert _get(f"{base}/readyz").status_code == 503

        registry.point(CHAMPION, version)
        wait_for(lambda: _get(f"{base}/readyz").status_code == 200, what="the champion to load")
        answer = httpx.post(f"{base}/predict", json=payload(raw_rows.head(3)), timeout=10)
        assert answer.status_code == 200
        assert answer.json()["model_version"] == version
    finally:
        server.terminate()
        server.wait(30)
    log.seek(0)
    output = log.read()
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal for the process manager.
    assert server.returncode in (0, -15), output[-3000:]
    assert "Application shutdown complete" in output
    assert "polling the registry for a champion" in output
    assert f"champion version {version}" in output
    # Shutdown flushed the inference log.
    assert list((tmp_path / "lake" / "inference" / "transactions").glob("date=*/part-*.parquet"))


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("max_batch_rows: -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tradewind.serving", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "max_batch_rows: Input should be greater than or equal to 1" in proc.stderr
