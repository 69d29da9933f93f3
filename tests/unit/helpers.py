"""Helpers shared by unit tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tradewind.data.spec import DatasetSpec
from tradewind.settings import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "include" / "config"
SPEC_PATH = CONFIG_DIR / "datasets" / "transactions.yaml"
# A Monday: 0.92 x rows_per_day rows, well above the spec's row-count minimum of 1000.
DAY = dt.date(2026, 1, 5)
SMALL_ROWS = 3000


def spec_dict() -> dict[str, Any]:
    """The shipped transactions spec as plain data (a fresh copy each call)."""
    return copy.deepcopy(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def write_spec(directory: Path, data: Any, name: str | None = None) -> Path:
    """Write a spec as ``<name>.yaml`` (column order kept) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inbox_dir(spec: DatasetSpec, day: dt.date) -> Path:
    """The local folder a ``files`` spec reads ``day`` from (created)."""
    pattern = spec.source.files.uri.removeprefix("file://").replace("{date}", day.isoformat())
    folder = Path(pattern).parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def local(uri: str) -> Path:
    """The local path of a ``file://`` URI (as the core returns them)."""
    return Path(uri.removeprefix("file://"))


def serve_metrics(metrics: Any) -> ThreadingHTTPServer:
    """An HTTP server on a free loopback port answering every GET with ``metrics.render()`` (Prometheus text).

    Stands for a model server's ``/metrics`` (or one revision's pod); ``shutdown()`` it afterwards.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = metrics.render()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeTI:
    """A task instance as an operator's ``execute`` sees it: its ids, and the XComs it pushed."""

    def __init__(self, dag_id: str, task_id: str, run_id: str = "manual__1", try_number: int = 1) -> None:
        self.dag_id, self.task_id, self.run_id, self.try_number = dag_id, task_id, run_id, try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value
