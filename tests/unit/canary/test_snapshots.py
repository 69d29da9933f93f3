"""Snapshots of /metrics: parsing the server's real exposition, JSON round trips, deltas and restarts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from tests.unit.canary.fakes import FakeServer
from tradewind.canary.snapshots import MetricsSnapshot, VariantMetrics, delta, parse_metrics
from tradewind.serving.contract import CHALLENGER, CHAMPION, LATENCY_BUCKETS, SCORE_BUCKETS

pytestmark = pytest.mark.unit

INF = math.inf


# --------------------------------------------------------------------------------------------
# Parsing the real exposition
# --------------------------------------------------------------------------------------------


def test_parse_reads_every_contract_series_per_variant() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 90, error_rate=0.1)
    server.serve(CHALLENGER, 10)
    server.dropped.inc(4)  # unlabelled: not a variant's series, ignored
    snap = parse_metrics(server.text())

    assert set(snap.variants) == {CHAMPION, CHALLENGER}
    champ = snap.champion
    assert champ.requests == 90
    assert 0 < champ.errors < 90
    assert champ.rows == (90 - champ.errors) * 3
    assert champ.latency.bounds == (*LATENCY_BUCKETS, INF)
    assert champ.latency.count == 90 - champ.errors
    assert champ.latency.buckets[-1] == (INF, 90.0 - champ.errors)
    assert champ.score.bounds == (*SCORE_BUCKETS, INF)
    assert champ.score.count == champ.rows
    assert 0 < champ.score.sum < champ.score.count  # scores are probabilities
    assert champ.created is not None
    assert sum(champ.score.counts()) == champ.score.count
    assert snap.challenger.requests == 10
    assert snap.challenger.errors == 0


def test_parse_reads_openmetrics_the_same_way() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 30)
    server.serve(CHALLENGER, 7, error_rate=0.5)
    classic = parse_metrics(server.text())
    openmetrics = parse_metrics(generate_openmetrics(server.registry).decode())
    for variant in (CHAMPION, CHALLENGER):
        a, b = classic.variant(variant), openmetrics.variant(variant)
        assert (a.requests, a.errors, a.rows) == (b.requests, b.errors, b.rows)
        assert a.latency.buckets == b.latency.buckets
        assert a.score.buckets == b.score.buckets


def test_the_real_servers_metrics_parse() -> None:
    """The other side of the contract: what ``tradewind.serving.metrics`` renders reads back as served."""
    metrics_module = pytest.importorskip("tradewind.serving.metrics")
    metrics = metrics_module.ServingMetrics()
    metrics.scored(CHAMPION, 0.012, np.array([0.001, 0.03, 0.4]))
    metrics.scored(CHALLENGER, 0.2, np.array([0.9]))
    metrics.failed(CHALLENGER)
    snap = parse_metrics(metrics.render().decode())
    assert (snap.champion.requests, snap.champion.errors, snap.champion.rows) == (1, 0, 3)
    assert (snap.challenger.requests, snap.challenger.errors, snap.challenger.rows) == (2, 1, 1)
    assert snap.champion.score.bounds == (*SCORE_BUCKETS, INF)
    assert snap.champion.score.counts()[SCORE_BUCKETS.index(0.05)] == 1  # 0.03 is in (0.02, 0.05]
    assert snap.challenger.latency.quantile(0.5) == pytest.approx(0.2)  # half-way into (0.15, 0.25]


def test_a_variant_not_served_yet_reads_as_empty() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 5)
    snap = server.snapshot()
    assert snap.challenger == VariantMetrics()
    assert snap.challenger.error_rate is None
    assert snap.challenger.p99_seconds() is None


def test_series_with_extra_labels_are_summed_per_variant() -> None:
    text = (
        "# TYPE tradewind_requests_total counter\n"
        'tradewind_requests_total{variant="challenger",model_version="4"} 3\n'
        'tradewind_requests_total{variant="challenger",model_version="5"} 4\n'
        "# TYPE tradewind_request_latency_seconds histogram\n"
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="4",le="0.01"} 1\n'
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="4",le="+Inf"} 3\n'
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="5",le="0.01"} 2\n'
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="5",le="+Inf"} 4\n'
        'tradewind_request_latency_seconds_count{variant="challenger",model_version="4"} 3\n'
        'tradewind_request_latency_seconds_count{variant="challenger",model_version="5"} 4\n'
    )
    challenger = parse_metrics(text).challenger
    assert challenger.requests == 7
    assert challenger.latency.buckets == ((0.01, 3.0), (INF, 7.0))
    assert challenger.latency.count == 7


def test_snapshots_round_trip_through_strict_json() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 20)
    server.serve(CHALLENGER, 20, error_rate=0.2, shed=6)
    snap = server.snapshot()
    text = json.dumps(snap.to_dict(), allow_nan=False)
    assert MetricsSnapshot.from_dict(json.loads(text)) == snap
    assert snap.challenger.shed == 6


def test_shed_requests_are_read_and_differenced_apart_from_errors() -> None:
    server = FakeServer()
    server.serve(CHALLENGER, 10, shed=2)
    start = server.snapshot()
    server.serve(CHALLENGER, 30, shed=10)
    stage = delta(server.snapshot(), start).challenger
    assert (stage.requests, stage.errors, stage.shed) == (30, 0, 10)
    assert stage.shed_rate == 0.25
    assert stage.error_rate == 0.0
    assert VariantMetrics().shed_rate is None


# --------------------------------------------------------------------------------------------
# Deltas and restarts
# --------------------------------------------------------------------------------------------


def test_delta_is_what_happened_between_two_snapshots() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 50)
    start = server.snapshot()
    server.serve(CHAMPION, 30, error_rate=1.0)
    server.serve(CHALLENGER, 12)
    stage = delta(server.snapshot(), start)

    assert stage.resets == ()
    assert stage.champion.requests == 30
    assert stage.champion.errors == 30
    assert stage.champion.latency.count == 0  # every request failed: no latency, no scores in the stage
    assert stage.champion.latency.buckets[-1] == (INF, 0.0)
    assert stage.champion.score.count == 0
    assert stage.challenger.requests == 12  # absent at the start: all of it is new
    assert all(c >= 0 for _, c in stage.champion.latency.buckets)


def test_a_counter_going_down_is_a_restart_and_after_is_the_delta(caplog: pytest.LogCaptureFixture) -> None:
    before_restart = FakeServer(seed=1)
    before_restart.serve(CHALLENGER, 100)
    start = before_restart.snapshot()
    restarted = FakeServer(seed=2)
    restarted.serve(CHALLENGER, 40)
    now = restarted.snapshot()

    stage = delta(now, start)
    assert stage.resets == (CHALLENGER,)
    assert stage.challenger == now.challenger
    assert "restarted" in caplog.text


def test_a_restart_that_already_served_more_is_caught_by_the_created_time() -> None:
    old = FakeServer(seed=1)
    old.serve(CHALLENGER, 10)
    start = old.snapshot()
    new = FakeServer(seed=2)  # a new process: new ``_created`` times
    new.serve(CHALLENGER, 25)
    now = new.snapshot()
    assert now.challenger.created != start.challenger.created

    stage = delta(now, start)
    assert stage.resets == (CHALLENGER,)
    assert stage.challenger.requests == 25  # not 25 - 10


def test_a_variant_that_vanished_is_a_restart_too() -> None:
    old = FakeServer(seed=1)
    old.serve(CHAMPION, 10)
    old.serve(CHALLENGER, 10)
    new = FakeServer(seed=2)
    new.serve(CHAMPION, 5)
    stage = delta(new.snapshot(), old.snapshot())
    assert stage.resets == (CHALLENGER, CHAMPION)  # sorted; the champion restarted as well
    assert stage.challenger == VariantMetrics()
