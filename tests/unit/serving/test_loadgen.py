"""The load generator against a small real HTTP server: counts, statuses, variants, rates, failures."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.unit.helpers import SPEC_PATH
from tradewind.data.spec import load_spec
from tradewind.serving import contract
from tradewind.serving.loadgen import BackgroundLoad, run_load, sample_records

SPEC = load_spec(SPEC_PATH)
pytestmark = pytest.mark.unit


class _Handler(BaseHTTPRequestHandler):
    """Answers every 10th request with a 500; the rest with a score from the champion."""

    seen: ClassVar[list[dict]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.seen.append(body)
            n = len(self.seen)
        status = 500 if n % 10 == 0 else 200
        payload = json.dumps({"predictions": [0.01] * len(body["instances"])}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header(contract.VARIANT_HEADER, "champion")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_sample_records_are_what_a_client_sends() -> None:
    records = sample_records(SPEC, count=50)
    assert len(records) == 50
    assert "is_fraud" not in records[0]
    assert isinstance(records[0]["transaction_id"], int)  # kept: delayed labels join on it
    assert records[0]["event_time"].startswith("2026-01-09T")  # features such as the hour come from it
    assert {"customer_id", "amount", "country"} <= set(records[0])
    assert sample_records(SPEC, count=50) == records  # deterministic


def test_closed_loop_counts_every_answer_by_status_and_variant(server: str) -> None:
    report = asyncio.run(run_load(server, sample_records(SPEC, count=20), requests=50, concurrency=4, batch_size=3))
    assert (report.sent, report.ok, report.failed) == (50, 45, 5)
    assert dict(report.by_status) == {"200": 45, "500": 5}
    assert dict(report.by_variant) == {"champion": 45}
    assert all(len(body["instances"]) == 3 for body in _Handler.seen)
    summary = report.to_dict()
    assert summary["p50_ms"] is not None
    assert summary["p99_ms"] >= summary["p50_ms"]
    assert summary["failures"]
    assert summary["failures"][0].startswith("500")


def test_open_loop_never_sends_faster_than_its_rate(server: str) -> None:
    # A lower bound only (the schedule sleeps until each start time), so a busy machine cannot fail it;
    # whether a sender keeps up with its rate is measured in bench/ (the client's lag).
    report = asyncio.run(run_load(server, sample_records(SPEC, count=20), rate_per_s=100, requests=40))
    assert report.sent == 40
    assert report.elapsed_s >= 39 / 100


def test_a_server_that_is_down_counts_as_failures_not_a_crash() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    report = asyncio.run(run_load(f"http://127.0.0.1:{port}", sample_records(SPEC, count=5), requests=5, concurrency=1))
    assert (report.sent, report.failed) == (5, 5)
    assert dict(report.by_status) == {"error": 5}


def test_background_load_runs_until_stopped(server: str) -> None:
    with BackgroundLoad(server, sample_records(SPEC, count=20), rate_per_s=50) as load:
        threading.Event().wait(0.5)
        report = load.stop()
    assert report.sent >= 10


def test_a_load_without_an_end_is_refused() -> None:
    with pytest.raises(ValueError, match="would never end"):
        asyncio.run(run_load("http://127.0.0.1:1", sample_records(SPEC, count=5)))


class _SheddingHandler(BaseHTTPRequestHandler):
    """Answers the first request with 503 + ``Retry-After: 0.3`` (load shed), the rest with a score."""

    arrivals: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        import time

        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).arrivals.append(time.monotonic())
        shed = len(self.arrivals) == 1
        payload = b'{"detail": "overloaded"}' if shed else b'{"predictions": [0.01]}'
        self.send_response(503 if shed else 200)
        if shed:
            self.send_header(contract.RETRY_AFTER_HEADER, "0.3")
        else:
            self.send_header(contract.VARIANT_HEADER, "champion")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_a_shed_request_is_counted_apart_and_the_sender_waits_what_the_server_asks() -> None:
    _SheddingHandler.arrivals = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SheddingHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        report = asyncio.run(run_load(url, sample_records(SPEC, count=5), requests=3, concurrency=1))
    finally:
        httpd.shutdown()
    assert (report.sent, report.ok, report.shed, report.failed) == (3, 2, 1, 0)
    assert dict(report.by_status) == {"503": 1, "200": 2}
    assert report.to_dict()["shed"] == 1
    # A lower bound only: the sender slept at least what Retry-After said before its next request.
    first, second, _ = _SheddingHandler.arrivals
    assert second - first >= 0.3
