"""The model server (``python -m tradewind.serving``) as a child process of the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tradewind_dev.stack import AirflowStack, StackError


class ModelServerProcess:
    """``python -m tradewind.serving`` as a child process of the demo, logging beside Airflow's logs."""

    def __init__(self, model: str, port: int, token: str, log: Path, stack: AirflowStack | None = None) -> None:
        self.model, self.port, self.token, self.log = model, port, token, log
        self.stack = stack  # a process of this stack: `make stop` ends it with the rest
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        import httpx

        env = {**os.environ, "TRADEWIND_SERVING_ADMIN_TOKEN": self.token}
        command = [sys.executable, "-m", "tradewind.serving", "--model-name", self.model, "--port", str(self.port)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.stack is not None:
            self.proc = self.stack.launch("model-server", command, self.log, env=env)
        else:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"the model server exited (code {self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise StackError(f"the model server was not ready within {timeout:.0f}s; see {self.log}")

    def traffic(self) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        return dict(httpx.get(f"{self.url}/admin/traffic", headers=headers, timeout=10).json())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
