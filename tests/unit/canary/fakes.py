"""A stand-in for the model server's metrics, shared by the canary's tests."""

from __future__ import annotations

import math

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tradewind.canary.snapshots import MetricsSnapshot, parse_metrics
from tradewind.serving.contract import (
    ERRORS_TOTAL,
    INFERENCE_LOG_DROPPED,
    LATENCY_BUCKETS,
    LATENCY_SECONDS,
    REQUESTS_TOTAL,
    ROWS_TOTAL,
    SCORE,
    SCORE_BUCKETS,
    SHED_TOTAL,
)


class FakeServer:
    """The server's metrics exactly as the contract declares them, in a registry of its own."""

    def __init__(self, seed: int = 0) -> None:
        self.registry = CollectorRegistry()
        self.rng = np.random.default_rng(seed)
        labels = ["variant"]
        self.requests = Counter(REQUESTS_TOTAL, "requests answered", labels, registry=self.registry)
        self.errors = Counter(ERRORS_TOTAL, "requests the model failed on", labels, registry=self.registry)
        self.latency = Histogram(
            LATENCY_SECONDS, "model time per request", labels, buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.score = Histogram(SCORE, "scores given", labels, buckets=SCORE_BUCKETS, registry=self.registry)
        self.rows = Counter(ROWS_TOTAL, "records scored", labels, registry=self.registry)
        self.shed = Counter(SHED_TOTAL, "requests refused by admission control", labels, registry=self.registry)
        self.dropped = Counter(INFERENCE_LOG_DROPPED, "records the log could not keep", registry=self.registry)

    def serve(
        self,
        variant: str,
        n: int,
        *,
        median_ms: float = 8.0,
        error_rate: float = 0.0,
        score_shift: bool = False,
        rows_per_request: int = 3,
        shed: int = 0,
    ) -> None:
        self.shed.labels(variant).inc(shed)  # refused before any model: no request, error or latency
        latencies = self.rng.lognormal(math.log(median_ms / 1000.0), 0.4, size=n)
        failed = self.rng.random(n) < error_rate
        for seconds, bad in zip(latencies, failed, strict=True):
            self.requests.labels(variant).inc()
            if bad:  # as the server counts a failure: a request and an error, no latency, no score
                self.errors.labels(variant).inc()
                continue
            self.latency.labels(variant).observe(float(seconds))
            a, b = (2.0, 10.0) if score_shift else (0.5, 20.0)
            for s in self.rng.beta(a, b, size=rows_per_request):
                self.score.labels(variant).observe(float(s))
            self.rows.labels(variant).inc(rows_per_request)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def snapshot(self) -> MetricsSnapshot:
        return parse_metrics(self.text())
