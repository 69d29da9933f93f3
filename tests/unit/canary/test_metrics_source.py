"""Metrics sources of the canary: what they ask and how they read answers (the real Prometheus is in integration)."""

from __future__ import annotations

import pytest

from tradewind.canary.metrics_source import (
    MetricsSourceError,
    PrometheusSource,
    ScrapeSource,
    metrics_source_from_dict,
)
from tradewind.canary.snapshots import parse_metrics
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.serving.metrics import ServingMetrics

pytestmark = pytest.mark.unit

REVISIONS = {CHAMPION: "isvc-predictor-00001", CHALLENGER: "isvc-predictor-00002"}


def _vector(*samples: tuple[dict[str, str], float]) -> dict:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": m, "value": [1.0, str(v)]} for m, v in samples]},
    }


def test_the_scrape_source_reads_the_servers_own_metrics() -> None:
    metrics = ServingMetrics()
    metrics.scored(CHALLENGER, 0.004, __import__("numpy").array([0.1, 0.2]))
    source = ScrapeSource("http://server:8081/metrics")
    assert source.cumulative
    assert [q.url for q in source.queries(since=0, now=1)] == ["http://server:8081/metrics"]
    assert source.read([metrics.render().decode()]) == parse_metrics(metrics.render().decode())
    assert metrics_source_from_dict(source.to_dict()) == source


def test_prometheus_queries_are_windowed_per_revision_and_escaped() -> None:
    source = PrometheusSource(url="http://prom:9090/", revisions=REVISIONS, selector={"namespace": "ml"})
    assert not source.cumulative
    queries = source.queries(since=100.0, now=160.4)
    assert {q.url for q in queries} == {"http://prom:9090/api/v1/query"}
    assert all(q.params["time"] == "160.400" for q in queries)
    requests = next(q.params["query"] for q in queries if "tradewind_requests_total" in q.params["query"])
    assert requests == (
        'sum by (revision) (increase(tradewind_requests_total{namespace="ml",'
        'revision=~"isvc\\\\-predictor\\\\-00001|isvc\\\\-predictor\\\\-00002"}[76s]))'
    )
    buckets = [q.params["query"] for q in queries if "_bucket" in q.params["query"]]
    assert len(buckets) == 2
    assert all(b.startswith("sum by (revision, le)") for b in buckets)


def test_prometheus_answers_become_per_variant_metrics() -> None:
    source = PrometheusSource(url="http://prom:9090", revisions=REVISIONS)
    champion, challenger = ({"revision": REVISIONS[CHAMPION]}, {"revision": REVISIONS[CHALLENGER]})
    other = {"revision": "someone-else"}
    by_key = {
        "requests": _vector((champion, 90.4), (challenger, 10.2), (other, 1e6)),
        "errors": _vector((challenger, 2.0)),
        "rows": _vector((champion, 90.4), (challenger, 10.2)),
        "shed": _vector((challenger, 3.0)),
        "latency_bucket": _vector(
            ({**champion, "le": "0.005"}, 80.0),
            ({**champion, "le": "0.01"}, 79.5),  # extrapolated separately: must not go down
            ({**champion, "le": "+Inf"}, 90.4),
        ),
        "latency_sum": _vector((champion, 0.4)),
        "latency_count": _vector((champion, 90.4)),
        "score_bucket": _vector(),
        "score_sum": _vector(),
        "score_count": _vector(),
    }
    snapshot = source.read([by_key[k] for k in source.expressions(1)])
    assert set(snapshot.variants) == {CHAMPION, CHALLENGER}
    assert snapshot.champion.requests == 90.4
    assert snapshot.challenger.error_rate == pytest.approx(2.0 / 10.2)
    assert snapshot.challenger.shed_rate == pytest.approx(3.0 / 13.2)
    assert snapshot.champion.shed == 0.0
    assert snapshot.champion.latency.buckets == ((0.005, 80.0), (0.01, 80.0), (float("inf"), 90.4))
    assert snapshot.challenger.latency.buckets == ()


def test_unreadable_answers_say_what_went_wrong() -> None:
    source = PrometheusSource(url="http://prom:9090", revisions={CHAMPION: "r1"})
    answers = [_vector()] * len(source.expressions(1))
    with pytest.raises(MetricsSourceError, match="expected 10 Prometheus answers, got 1"):
        source.read(answers[:1])
    refused = {"status": "error", "errorType": "bad_data", "error": "parse error at char 9"}
    with pytest.raises(MetricsSourceError, match="refused the requests query: parse error at char 9"):
        source.read([refused, *answers[1:]])
    matrix = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    with pytest.raises(MetricsSourceError, match="instant vector"):
        source.read([matrix, *answers[1:]])
    with pytest.raises(ValueError, match="unknown metrics source kind 'statsd'"):
        metrics_source_from_dict({"kind": "statsd"})
