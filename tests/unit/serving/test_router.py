"""Traffic split, stickiness and shadow mode, through the server and on the router itself."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.unit.serving.conftest import AUTH, Registry, payload, records, server_of
from tradewind.serving.contract import CHALLENGER, CHAMPION, ENTITY_HEADER, bucket
from tradewind.serving.router import Route, TrafficRouter, TrafficSplit, routing_key

pytestmark = pytest.mark.unit


def test_one_entity_always_gets_one_variant(serve, with_challenger: Registry, raw_rows: pd.DataFrame):
    client = serve()
    client.put("/admin/traffic", json={"challenger_percent": 50}, headers=AUTH)
    body = payload(raw_rows.head(3))
    seen: dict[str, set[str]] = {}
    for entity in (f"customer-{i}" for i in range(40)):
        for _ in range(3):
            answer = client.post("/predict", json=body, headers={ENTITY_HEADER: entity})
            seen.setdefault(entity, set()).add(answer.headers["X-Tradewind-Variant"])
    assert all(len(variants) == 1 for variants in seen.values())
    # Both variants answer someone, and exactly the entities the contract's bucket says.
    for entity, variants in seen.items():
        assert variants == {CHALLENGER if bucket(entity) < 50 else CHAMPION}
    assert {v for vs in seen.values() for v in vs} == {CHAMPION, CHALLENGER}


def test_the_first_instance_entity_column_routes_without_a_header(serve, with_challenger: Registry, raw_rows):
    client = serve()
    client.put("/admin/traffic", json={"challenger_percent": 50}, headers=AUTH)
    for customer in range(30):
        instances = records(raw_rows.head(2))
        instances[0]["customer_id"] = customer
        expected = CHALLENGER if bucket(str(customer)) < 50 else CHAMPION
        assert client.post("/predict", json={"instances": instances}).json()["variant"] == expected
        by_header = client.post("/predict", json=payload(raw_rows.head(2)), headers={ENTITY_HEADER: str(customer)})
        assert by_header.json()["variant"] == expected


def test_the_share_follows_the_percent_and_raising_it_only_moves_entities_to_the_challenger():
    router = TrafficRouter()
    entities = [f"c{i}" for i in range(5000)]
    routed: dict[int, set[str]] = {}
    for percent in (0, 10, 50, 100):
        router.update(percent, shadow=False)
        routed[percent] = {e for e in entities if router.route(e, has_challenger=True).variant == CHALLENGER}
        assert abs(len(routed[percent]) / len(entities) * 100 - percent) < 2.5, percent
    assert routed[0] <= routed[10] <= routed[50] <= routed[100] == set(entities)


def test_no_challenger_means_champion_whatever_the_split():
    router = TrafficRouter(TrafficSplit(100, shadow=True))
    assert router.route("anyone", has_challenger=False) == Route(CHAMPION)
    assert router.route("anyone", has_challenger=True) == Route(CHAMPION, shadow=True)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        TrafficSplit(101)


def test_routing_key_prefers_header_then_entity_then_request_id():
    assert routing_key("h", {"customer_id": 5}, "customer_id", "r") == "h"
    assert routing_key(None, {"customer_id": 5}, "customer_id", "r") == "5"
    assert routing_key(None, {"customer_id": True}, "customer_id", "r") == "r"
    assert routing_key(None, {}, "customer_id", "r") == "r"
    assert routing_key(None, "not an object", "customer_id", "r") == "r"


def test_shadow_mode_answers_with_the_champion_and_scores_the_challenger_too(
    serve, with_challenger: Registry, raw_rows: pd.DataFrame
):
    client = serve()
    state = client.put("/admin/traffic", json={"challenger_percent": 0, "shadow": True}, headers=AUTH).json()
    assert state["shadow"] is True
    for i in range(6):
        answer = client.post("/predict", json=payload(raw_rows.head(4)), headers={ENTITY_HEADER: f"e{i}"})
        assert answer.json()["variant"] == CHAMPION
        assert answer.json()["model_version"] == "1"
    metrics = client.get("/metrics").text
    assert 'tradewind_requests_total{variant="champion"} 6.0' in metrics
    assert 'tradewind_requests_total{variant="challenger"} 6.0' in metrics
    assert 'tradewind_rows_total{variant="challenger"} 24.0' in metrics


def test_a_failing_shadow_never_touches_the_response(make_app, with_challenger: Registry, raw_rows):
    from fastapi.testclient import TestClient

    from tests.unit.serving.test_models import BrokenLoader

    with TestClient(make_app(loader=BrokenLoader(with_challenger, broken={"2"}))) as client:
        client.put("/admin/traffic", json={"challenger_percent": 0, "shadow": True}, headers=AUTH)
        answers = [client.post("/predict", json=payload(raw_rows.head(3))) for _ in range(4)]
        metrics = client.get("/metrics").text
    assert [a.status_code for a in answers] == [200] * 4
    assert {a.json()["variant"] for a in answers} == {CHAMPION}
    assert 'tradewind_request_errors_total{variant="challenger"} 4.0' in metrics
    assert 'tradewind_request_errors_total{variant="champion"} 0.0' in metrics
    assert server_of(client).router.split.shadow is True
