"""/metrics: the contract's series, per variant, with the contract's buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.serving.conftest import AUTH, Registry, payload
from tradewind.serving.contract import CHALLENGER, CHAMPION, ENTITY_HEADER, LATENCY_BUCKETS, SCORE_BUCKETS, bucket
from tradewind.serving.metrics import ServingMetrics

pytestmark = pytest.mark.unit


def _samples(text: str) -> dict[tuple[str, str, str], float]:
    """(sample name, variant, le) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, sample.labels.get("variant", ""), sample.labels.get("le", ""))] = sample.value
    return out


def test_series_are_counted_per_variant(serve, with_challenger: Registry, raw_rows: pd.DataFrame):
    client = serve()
    fresh = _samples(client.get("/metrics").text)
    for variant in (CHAMPION, CHALLENGER):  # every series exists from the start
        assert fresh[("tradewind_requests_total", variant, "")] == 0
        assert fresh[("tradewind_score_count", variant, "")] == 0
    client.put("/admin/traffic", json={"challenger_percent": 30}, headers=AUTH)
    entities = [f"m{i}" for i in range(20)]
    to_challenger = sum(bucket(e) < 30 for e in entities)
    scores = {CHAMPION: [], CHALLENGER: []}
    for i, entity in enumerate(entities):
        answer = client.post("/predict", json=payload(raw_rows.head(i + 1)), headers={ENTITY_HEADER: entity}).json()
        scores[answer["variant"]].extend(answer["predictions"])
    client.post("/predict", content=b"{not json")  # a 422 is nobody's request and nobody's error
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    seen = _samples(response.text)
    assert 0 < to_challenger < 20
    assert seen[("tradewind_requests_total", CHALLENGER, "")] == to_challenger
    assert seen[("tradewind_requests_total", CHAMPION, "")] == 20 - to_challenger
    for variant in (CHAMPION, CHALLENGER):
        assert seen[("tradewind_request_errors_total", variant, "")] == 0
        assert seen[("tradewind_rows_total", variant, "")] == len(scores[variant])
        assert seen[("tradewind_score_count", variant, "")] == len(scores[variant])
        assert seen[("tradewind_score_sum", variant, "")] == pytest.approx(sum(scores[variant]))
        for edge in SCORE_BUCKETS:
            expected = sum(s <= edge for s in scores[variant])
            assert seen[("tradewind_score_bucket", variant, str(edge))] == expected, (variant, edge)
        assert (
            seen[("tradewind_request_latency_seconds_count", variant, "")]
            == seen[("tradewind_requests_total", variant, "")]
        )
    latency_edges = {le for (name, _, le) in seen if name == "tradewind_request_latency_seconds_bucket"}
    assert latency_edges == {str(b) for b in LATENCY_BUCKETS} | {"+Inf"}


def test_score_histogram_edges_are_inclusive_and_apps_do_not_share_counters():
    first, second = ServingMetrics(), ServingMetrics()
    first.scored(CHAMPION, 0.01, np.array([0.001, 0.0011, 1.0, 0.5]))
    seen = _samples(first.render().decode())
    assert seen[("tradewind_score_bucket", CHAMPION, "0.001")] == 1
    assert seen[("tradewind_score_bucket", CHAMPION, "0.002")] == 2
    assert seen[("tradewind_score_bucket", CHAMPION, "0.5")] == 3
    assert seen[("tradewind_score_bucket", CHAMPION, "1.0")] == 4
    assert seen[("tradewind_score_bucket", CHAMPION, "+Inf")] == 4
    assert _samples(second.render().decode())[("tradewind_score_count", CHAMPION, "")] == 0
