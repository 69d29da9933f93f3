"""Prometheus metrics of the model server, per variant, named and bucketed as ``contract.py`` says.

Each app gets its own ``CollectorRegistry`` (two servers in one process, e.g. tests, never share
counters). Every series is created for both variants at start, so a challenger that has not
answered yet reads 0 rather than missing.

Scores are many per request (up to ``max_batch_rows``): their histogram is a small custom collector
that adds a whole batch with one ``numpy.searchsorted`` instead of one ``observe`` per score.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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
    VARIANTS,
)

# The classic text format: every Prometheus version reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class BatchHistogram(Collector):
    """A labelled histogram that takes a batch of observations at once (thread-safe)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], variants: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.buckets = np.asarray(sorted(buckets), dtype=np.float64)
        self._counts = {v: np.zeros(len(self.buckets) + 1, dtype=np.int64) for v in variants}
        self._sums = dict.fromkeys(variants, 0.0)
        self._lock = threading.Lock()

    def observe_many(self, variant: str, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            return
        # side="left": a value equal to an edge belongs to that edge's bucket (Prometheus' le).
        counts = np.bincount(np.searchsorted(self.buckets, values, side="left"), minlength=len(self.buckets) + 1)
        total = float(values.sum())
        with self._lock:
            self._counts[variant] += counts
            self._sums[variant] += total

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["variant"])
        with self._lock:
            snapshot = {v: (c.cumsum(), self._sums[v]) for v, c in self._counts.items()}
        for variant, (cumulative, total) in snapshot.items():
            edges = [floatToGoString(b) for b in self.buckets] + ["+Inf"]
            family.add_metric([variant], list(zip(edges, cumulative.tolist(), strict=True)), sum_value=total)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=["variant"])


class ServingMetrics:
    """The server's series; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            REQUESTS_TOTAL, "Requests a variant answered or shadow-scored", ["variant"], registry=self.registry
        )
        self.errors = Counter(
            ERRORS_TOTAL, "Requests whose scoring failed in the variant's model", ["variant"], registry=self.registry
        )
        self.latency = Histogram(
            LATENCY_SECONDS,
            "Model time per request: features and scoring, with any wait to share a call with concurrent requests",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(ROWS_TOTAL, "Records scored", ["variant"], registry=self.registry)
        self.dropped = Counter(
            INFERENCE_LOG_DROPPED,
            "Scored records the inference log could not keep (queue full or store failing)",
            ["variant"],
            registry=self.registry,
        )
        self.shed = Counter(
            SHED_TOTAL,
            "Requests refused by admission control (503 + Retry-After, never scored), by the variant routed to",
            ["variant"],
            registry=self.registry,
        )
        self.scores = BatchHistogram(SCORE, "Every score a variant gave", SCORE_BUCKETS, VARIANTS)
        self.registry.register(self.scores)
        for variant in VARIANTS:
            for series in (self.requests, self.errors, self.rows, self.dropped, self.shed, self.latency):
                series.labels(variant=variant)

    def scored(self, variant: str, seconds: float, scores: np.ndarray, *, rows: int | None = None) -> None:
        """A request the variant scored: ``scores`` are what the score histogram takes (one per record for
        a binary model), ``rows`` the records scored (default: one per score)."""
        self.requests.labels(variant=variant).inc()
        self.rows.labels(variant=variant).inc(len(scores) if rows is None else rows)
        self.latency.labels(variant=variant).observe(seconds)
        self.scores.observe_many(variant, scores)

    def failed(self, variant: str) -> None:
        """A request the variant's model failed on (counted as a request and as an error)."""
        self.requests.labels(variant=variant).inc()
        self.errors.labels(variant=variant).inc()

    def shed_one(self, variant: str) -> None:
        """A request refused by admission control (not a request the variant answered, not an error)."""
        self.shed.labels(variant=variant).inc()

    def log_dropped(self, variant: str, records: int) -> None:
        self.dropped.labels(variant=variant).inc(records)

    def render(self) -> bytes:
        return generate_latest(self.registry)
