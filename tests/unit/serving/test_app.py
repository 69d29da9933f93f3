"""The server's endpoints as a client sees them: predict, probes, admin, request ids, errors, OpenAPI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.data.features_reference import reference_build_features
from tests.unit.serving.conftest import AUTH, Registry, payload, records, server_of
from tradewind.serving.contract import CHAMPION, REQUEST_ID_HEADER, VARIANT_HEADER

pytestmark = pytest.mark.unit


def test_predict_scores_a_batch_like_the_registered_model(serve, champion_only: Registry, raw_rows: pd.DataFrame):
    client = serve()
    rows = raw_rows.sample(40, random_state=3)
    response = client.post("/predict", json=payload(rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["variant"] == CHAMPION
    assert body["model_version"] == "1"
    assert response.headers[VARIANT_HEADER] == CHAMPION
    expected = champion_only.model_of("1").predict_proba(rows.drop(columns=["is_fraud"]))
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-6)
    assert body["request_id"] == response.headers[REQUEST_ID_HEADER]


def test_request_id_is_echoed_or_made(serve, champion_only: Registry, raw_rows: pd.DataFrame):
    client = serve()
    mine = client.post("/predict", json=payload(raw_rows.head(1)), headers={REQUEST_ID_HEADER: "req-42.a"})
    assert mine.headers[REQUEST_ID_HEADER] == "req-42.a"
    assert mine.json()["request_id"] == "req-42.a"
    made = [client.post("/predict", json=payload(raw_rows.head(1))).headers[REQUEST_ID_HEADER] for _ in range(2)]
    assert made[0] != made[1]
    assert all(len(m) == 32 for m in made)
    # A header that is not a sensible token is replaced, on every response including errors.
    odd = client.post("/predict", content=b"{", headers={REQUEST_ID_HEADER: "x" * 500})
    assert odd.status_code == 422
    assert len(odd.headers[REQUEST_ID_HEADER]) == 32


def test_unknown_categories_are_scored_as_the_unknown_bucket(serve, champion_only: Registry, raw_rows: pd.DataFrame):
    client = serve()
    rows = raw_rows.head(3).copy()
    instances = records(rows)
    instances[0]["merchant_category"] = "spaceships"
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    unknown = rows.drop(columns=["is_fraud"]).assign(merchant_category=[None, *rows["merchant_category"][1:]])
    expected = champion_only.model_of("1").predict_proba(unknown)
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)


def test_readyz_is_503_with_the_reason_until_a_champion_exists(
    serve, registry: Registry, raw_rows: pd.DataFrame
) -> None:
    version = registry.add("a")  # registered, but no alias yet
    client = serve()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "has no 'champion' alias yet" in ready.json()["reason"]
    predict = client.post("/predict", json=payload(raw_rows.head(2)))
    assert predict.status_code == 503
    assert "no 'champion' alias" in predict.json()["detail"]

    registry.point(CHAMPION, version)
    assert client.post("/admin/reload", headers=AUTH).json()["champion"] == {"version": version}
    assert client.get("/readyz").json() == {
        "status": "ready",
        "champion": version,
        "challenger": None,
        "reason": None,
    }
    assert client.post("/predict", json=payload(raw_rows.head(2))).status_code == 200


def test_admin_needs_the_bearer_token(serve, with_challenger: Registry):
    client = serve()
    assert client.get("/admin/traffic").status_code == 401
    assert client.get("/admin/traffic").headers["www-authenticate"] == "Bearer"
    assert client.get("/admin/traffic", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert (
        client.put(
            "/admin/traffic", json={"challenger_percent": 50}, headers={"Authorization": "Bearer no"}
        ).status_code
        == 403
    )
    assert client.post("/admin/reload").status_code == 401
    ok = client.get("/admin/traffic", headers=AUTH)
    assert ok.status_code == 200
    assert ok.json() == {
        "challenger_percent": 0,
        "shadow": False,
        "champion": {"version": "1"},
        "challenger": {"version": "2"},
    }
    # Nothing changed through the refused calls.
    assert server_of(client).router.split.challenger_percent == 0


def test_admin_without_a_configured_token_answers_503(serve, with_challenger: Registry, monkeypatch):
    monkeypatch.delenv("TRADEWIND_SERVING_ADMIN_TOKEN", raising=False)
    client = serve(admin_token=None)
    response = client.put("/admin/traffic", json={"challenger_percent": 10}, headers=AUTH)
    assert response.status_code == 503
    assert "TRADEWIND_SERVING_ADMIN_TOKEN" in response.json()["detail"]
    assert server_of(client).router.split.challenger_percent == 0


def test_admin_token_comes_from_the_environment(make_app, with_challenger: Registry, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("TRADEWIND_SERVING_ADMIN_TOKEN", "from-env")
    client = TestClient(make_app(admin_token=None))
    assert client.get("/admin/traffic", headers={"Authorization": "Bearer from-env"}).status_code == 200
    assert client.get("/admin/traffic", headers=AUTH).status_code == 403


def test_traffic_split_needs_a_challenger(serve, champion_only: Registry):
    client = serve()
    for body in ({"challenger_percent": 10}, {"challenger_percent": 0, "shadow": True}):
        response = client.put("/admin/traffic", json=body, headers=AUTH)
        assert response.status_code == 409, body
        assert "no challenger" in response.json()["detail"]
    zero = client.put("/admin/traffic", json={"challenger_percent": 0}, headers=AUTH)
    assert zero.status_code == 200
    assert zero.json()["challenger"] is None


def test_traffic_update_is_checked(serve, with_challenger: Registry):
    client = serve()
    bad_bodies = (
        {"challenger_percent": 101},
        {"challenger_percent": "10"},
        {"challenger_percent": True},
        {"challenger_percent": 25.5},
        {},
        [],
    )
    for bad in bad_bodies:
        response = client.put("/admin/traffic", json=bad, headers=AUTH)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][0] == "body"
    assert client.put("/admin/traffic", content=b"{nope", headers=AUTH).status_code == 422
    set_ = client.put("/admin/traffic", json={"challenger_percent": 25, "shadow": False}, headers=AUTH)
    assert set_.json() == {
        "challenger_percent": 25,
        "shadow": False,
        "champion": {"version": "1"},
        "challenger": {"version": "2"},
    }
    assert client.get("/admin/traffic", headers=AUTH).json()["challenger_percent"] == 25
    # JSON Schema's integer takes 40.0 (the fuzz pass sent 72.0 and got a 422 it did not document).
    whole = client.put("/admin/traffic", json={"challenger_percent": 40.0}, headers=AUTH)
    assert whole.status_code == 200, whole.text
    assert whole.json()["challenger_percent"] == 40


def test_a_method_a_path_lacks_is_405_naming_every_method_it_has(serve, champion_only: Registry):
    """GET and PUT /admin/traffic are two routes; a 405 from either named only its own method (fuzz)."""
    client = serve()
    for method, path, allow in (
        ("OPTIONS", "/admin/traffic", "GET, PUT"),
        ("DELETE", "/admin/traffic", "GET, PUT"),
        ("GET", "/predict", "POST"),
        ("POST", "/healthz", "GET"),
    ):
        response = client.request(method, path, headers=AUTH)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allow, (method, path)
        assert response.json() == {"detail": "Method Not Allowed"}


def test_a_failing_challenger_is_counted_and_the_champion_answers(make_app, with_challenger: Registry, raw_rows):
    """A bad release shows in the challenger's error rate (what the canary judges), never to the client."""
    from fastapi.testclient import TestClient

    from tests.unit.serving.test_models import BrokenLoader

    app = make_app(loader=BrokenLoader(with_challenger, broken={"2"}))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.put("/admin/traffic", json={"challenger_percent": 100}, headers=AUTH)
        response = client.post("/predict", json=payload(raw_rows.head(5)))
        assert response.status_code == 200
        assert response.headers[VARIANT_HEADER] == CHAMPION
        assert response.json()["model_version"] == "1"
        assert len(response.json()["predictions"]) == 5
        metrics = client.get("/metrics").text
    assert 'tradewind_request_errors_total{variant="challenger"} 1.0' in metrics
    assert 'tradewind_requests_total{variant="challenger"} 1.0' in metrics
    assert 'tradewind_request_errors_total{variant="champion"} 0.0' in metrics
    assert 'tradewind_requests_total{variant="champion"} 1.0' in metrics


def test_a_failing_champion_is_a_500_counted_for_it(make_app, champion_only: Registry, raw_rows):
    from fastapi.testclient import TestClient

    from tests.unit.serving.test_models import BrokenLoader

    app = make_app(loader=BrokenLoader(champion_only, broken={"1"}))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/predict", json=payload(raw_rows.head(5)))
        assert response.status_code == 500
        assert response.headers[VARIANT_HEADER] == CHAMPION
        assert response.json() == {"detail": "the champion model (version 1) failed to score this request"}
        metrics = client.get("/metrics").text
    assert 'tradewind_request_errors_total{variant="champion"} 1.0' in metrics


def test_openapi_describes_the_request_and_every_answer(serve, champion_only: Registry, shipped_spec):
    spec = serve().get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]
    instance = body["schema"]["properties"]["instances"]["items"]
    assert set(instance["required"]) == {*shipped_spec.feature_columns, shipped_spec.timestamp}
    assert instance["properties"]["amount"] == {"type": "number", "minimum": 0.0, "maximum": 50000.0}
    assert instance["properties"]["card_present"] == {"type": "boolean"}
    assert instance["properties"]["event_time"]["format"] == "date-time"
    assert instance["properties"]["event_time"]["pattern"].startswith("^(167[89]|")  # the years a timestamp holds
    assert instance["properties"]["customer_id"]["type"] == "integer"  # optional, but never null
    assert {(p["name"], p["in"]) for p in predict["parameters"]} == {
        ("X-Tradewind-Entity", "header"),
        ("X-Request-ID", "header"),
    }
    assert body["schema"]["properties"]["instances"]["maxItems"] == 1000
    assert set(body["example"]["instances"][0]) >= set(instance["required"])
    assert {"200", "413", "422", "500", "503"} <= set(predict["responses"])
    put = spec["paths"]["/admin/traffic"]["put"]
    assert {"200", "401", "403", "409", "422", "503"} <= set(put["responses"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_the_example_in_the_schema_is_accepted(serve, champion_only: Registry):
    client = serve()
    example = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]["content"][
        "application/json"
    ]["example"]
    assert client.post("/predict", json=example).status_code == 200


def test_small_requests_are_scored_on_the_event_loop_larger_ones_in_worker_threads(
    serve, champion_only: Registry, raw_rows: pd.DataFrame
):
    """A body up to inline_max_bytes is scored where it arrives (a thread hand-off would cost a third
    of scoring it); a larger one in a worker thread. Both answer the same."""
    import threading

    def recorded(client):
        service = server_of(client).service
        predict = service.predict

        def recording(*args, **kwargs):
            threads.append(threading.current_thread().name)
            return predict(*args, **kwargs)

        service.predict = recording
        return client

    threads: list[str] = []
    client = recorded(serve(inline_max_bytes=4096))
    small, large = raw_rows.head(1), raw_rows.head(40)
    answers = [client.post("/predict", json=payload(rows)).json()["predictions"] for rows in (small, large)]
    loop_thread, worker = threads
    assert loop_thread != worker
    assert answers[1][0] == answers[0][0]
    threads.clear()
    client = recorded(serve(inline_max_bytes=0))  # every request in a worker thread
    assert client.post("/predict", json=payload(small)).status_code == 200
    assert threads[0] != loop_thread


def test_loaded_models_are_left_out_of_garbage_collections(serve, champion_only: Registry):
    """Loading a model builds hundreds of thousands of long-lived objects; a full collection walking
    them all would stall every request for ~0.2 s. They are frozen once the deployment swaps in."""
    import gc

    gc.unfreeze()
    client = serve()
    assert server_of(client).holder.deployment.champion is not None
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize("size", [1, 3, 40])
def test_served_scores_are_the_bits_of_the_pandas_feature_path(serve, champion_only: Registry, raw_rows, size):
    """Whatever the server does to be fast (columns, numpy features, event loop or worker thread), a
    client gets the scores the old pandas path (build_features as a frame into the booster) gave."""
    client = serve()
    instances = records(raw_rows.sample(size, random_state=size))
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    model = champion_only.model_of("1")
    expected = model.backend.predict_features(reference_build_features(pd.DataFrame(instances), model.spec))
    assert response.json()["predictions"] == np.asarray(expected, dtype=np.float64).tolist()
