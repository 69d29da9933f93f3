"""Admission control: a saturated server answers 503 + Retry-After at once and admits again when work ends.

The model's scoring is held on an Event (no sleeps): a request is "in flight" exactly while the
test holds it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.unit.serving.conftest import AUTH, Registry, payload, server_of
from tradewind.serving.admission import Admission, count_records, peek_first_instance
from tradewind.serving.config import ServingConfigError, parse_serving_config
from tradewind.serving.contract import ENTITY_HEADER
from tradewind.serving.models import LoadedModel, RegistryModelLoader

pytestmark = pytest.mark.unit

SHED = "tradewind_requests_shed_total"


class _HeldModel:
    """A trained model whose scoring waits for ``release`` (and says when it has started)."""

    def __init__(self, model: Any, entered: threading.Event, release: threading.Event) -> None:
        self._model, self._entered, self._release = model, entered, release

    def predict_matrix(self, features: Any) -> np.ndarray:
        self._entered.set()
        if not self._release.wait(timeout=30):
            raise TimeoutError("the test never released the held model")
        return np.asarray(self._model.predict_matrix(features))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class HeldLoader(RegistryModelLoader):
    """The real registry loader; every version's scoring is held until ``release`` is set."""

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry.name, registry.client.tracking_uri)
        self.entered, self.release = threading.Event(), threading.Event()

    def load(self, version: str) -> LoadedModel:
        loaded = super().load(version)
        held = _HeldModel(loaded.model, self.entered, self.release)
        return LoadedModel(name=loaded.name, version=version, model=held, validator=loaded.validator)  # type: ignore[arg-type]


@pytest.fixture
def held(make_app, champion_only: Registry):
    """A started client on a server admitting one request at a time, whose model is held."""
    loader = HeldLoader(champion_only)
    app = make_app(loader=loader, inline_max_bytes=0, admission={"max_inflight_requests": 1, "retry_after_s": 2})
    with TestClient(app, raise_server_exceptions=False) as client, ThreadPoolExecutor(2) as pool:
        yield client, loader, pool
        loader.release.set()


def _hold_one(client: TestClient, loader: HeldLoader, pool: ThreadPoolExecutor, body: dict[str, Any]) -> Future[Any]:
    """A request that is admitted and scoring (held) when this returns."""
    pending = pool.submit(client.post, "/predict", json=body)
    assert loader.entered.wait(timeout=30), "the held request never reached the model"
    return pending


def _shed_count(client: TestClient, variant: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'{SHED}{{variant="{variant}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"{SHED} for {variant} is not exposed")


def test_a_saturated_server_answers_503_with_retry_after_and_admits_again(held, raw_rows):
    client, loader, pool = held
    body = payload(raw_rows.head(2))
    first = _hold_one(client, loader, pool, body)

    refused = client.post("/predict", json=body)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert "overloaded: 1 requests (2 records) in flight" in refused.json()["detail"]

    loader.release.set()
    assert first.result(timeout=30).status_code == 200
    again = client.post("/predict", json=body)
    assert again.status_code == 200, again.text
    assert len(again.json()["predictions"]) == 2
    assert server_of(client).admission.in_flight == (0, 0)


def test_probes_and_metrics_bypass_admission(held, raw_rows):
    client, loader, pool = held
    first = _hold_one(client, loader, pool, payload(raw_rows.head(1)))
    assert client.post("/predict", json=payload(raw_rows.head(1))).status_code == 503
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert _shed_count(client, "champion") == 1.0
    loader.release.set()
    assert first.result(timeout=30).status_code == 200


def test_a_refused_request_is_not_a_request_or_an_error_of_the_variant(held, raw_rows):
    client, loader, pool = held
    first = _hold_one(client, loader, pool, payload(raw_rows.head(1)))
    for _ in range(3):
        assert client.post("/predict", json=payload(raw_rows.head(1))).status_code == 503
    loader.release.set()
    assert first.result(timeout=30).status_code == 200
    metrics = client.get("/metrics").text
    assert f'{SHED}{{variant="champion"}} 3.0' in metrics
    assert 'tradewind_requests_total{variant="champion"} 1.0' in metrics
    assert 'tradewind_request_errors_total{variant="champion"} 0.0' in metrics


def test_shed_requests_are_counted_for_the_variant_they_were_routed_to(make_app, with_challenger: Registry, raw_rows):
    loader = HeldLoader(with_challenger)
    app = make_app(loader=loader, inline_max_bytes=0, admission={"max_inflight_requests": 1})
    body = payload(raw_rows.head(1))
    with TestClient(app, raise_server_exceptions=False) as client, ThreadPoolExecutor(1) as pool:
        first = _hold_one(client, loader, pool, body)  # 0% challenger: the champion scores it
        assert client.put("/admin/traffic", json={"challenger_percent": 100}, headers=AUTH).status_code == 200
        assert client.post("/predict", json=body, headers={ENTITY_HEADER: "c-1"}).status_code == 503
        assert client.post("/predict", json=body).status_code == 503  # routed by the first record's customer
        assert _shed_count(client, "challenger") == 2.0
        assert _shed_count(client, "champion") == 0.0
        loader.release.set()
        assert first.result(timeout=30).status_code == 200


def test_records_are_counted_not_only_requests(make_app, champion_only: Registry, raw_rows):
    loader = HeldLoader(champion_only)
    admission = {"max_inflight_requests": 10, "max_inflight_records": 5}
    app = make_app(loader=loader, inline_max_bytes=0, admission=admission)
    with TestClient(app, raise_server_exceptions=False) as client, ThreadPoolExecutor(1) as pool:
        first = _hold_one(client, loader, pool, payload(raw_rows.head(3)))
        refused = client.post("/predict", json=payload(raw_rows.head(3)))  # 3 + 3 records > 5
        assert refused.status_code == 503
        assert "1 requests (3 records) in flight" in refused.json()["detail"]
        loader.release.set()
        assert first.result(timeout=30).status_code == 200
        # Alone, a request larger than the record limit is admitted.
        alone = client.post("/predict", json=payload(raw_rows.head(8)))
        assert alone.status_code == 200, alone.text
        assert len(alone.json()["predictions"]) == 8


def test_requests_that_arrive_together_are_counted_before_any_is_scored_on_the_loop(
    make_app, champion_only: Registry, raw_rows
):
    """Small bodies are scored on the event loop: the ones queued there together still count as in flight."""
    app = make_app(admission={"max_inflight_requests": 2}, inference_log={"enabled": False})
    body = payload(raw_rows.head(1))
    assert len(json.dumps(body)) <= server_of(app).config.inline_max_bytes

    async def together() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            answers = await asyncio.gather(*(client.post("/predict", json=body) for _ in range(5)))
        return [answer.status_code for answer in answers]

    assert sorted(asyncio.run(together())) == [200, 200, 503, 503, 503]
    assert server_of(app).admission.in_flight == (0, 0)
    assert asyncio.run(together()).count(200) == 2  # and admitted again once those were answered


def test_errors_give_their_share_back(serve, champion_only: Registry, raw_rows):
    client = serve(admission={"max_inflight_requests": 1})
    assert client.post("/predict", content=b"{not json").status_code == 422
    assert client.post("/predict", json={"instances": [{"amount": "x"}]}).status_code == 422
    assert client.post("/predict", json=payload(raw_rows.head(1))).status_code == 200
    assert server_of(client).admission.in_flight == (0, 0)


def test_admission_can_be_turned_off(serve, champion_only: Registry, raw_rows):
    client = serve(admission={"enabled": False})
    assert server_of(client).admission is None
    assert client.post("/predict", json=payload(raw_rows.head(1))).status_code == 200


def test_admission_counts_and_limits():
    admission = Admission(max_requests=2, max_records=10)
    a = admission.try_admit(4)
    b = admission.try_admit(6)
    assert a is not None
    assert b is not None
    assert admission.try_admit(1) is None  # two requests in flight
    admission.release(a)
    assert admission.try_admit(5) is None  # 6 + 5 records > 10
    c = admission.try_admit(4)
    assert c is not None
    assert admission.in_flight == (2, 10)
    admission.release(c)
    admission.release(c)  # a second release changes nothing
    admission.release(b)
    assert admission.in_flight == (0, 0)
    huge = admission.try_admit(50)  # alone: admitted whatever its size
    assert huge is not None
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0, 10)


def test_records_are_counted_from_the_raw_body():
    body = b'{"instances": [{"customer_id": "c-9", "amount": 1.5}, {"customer_id": "c-2", "amount": 2}]}'
    assert count_records(body) == 2
    assert count_records(b"garbage") == 1
    assert peek_first_instance(body) == {"customer_id": "c-9", "amount": 1.5}
    assert peek_first_instance(b'{"instances": [1, 2]}') == 1
    assert peek_first_instance(b'{"instances": [{"a": ') is None
    assert peek_first_instance(b"{}") is None


def test_bad_admission_settings_name_the_key():
    with pytest.raises(ServingConfigError, match="max_inflight_requests"):
        parse_serving_config({"admission": {"max_inflight_requests": 0}})
    with pytest.raises(ServingConfigError, match="retry_after_s"):
        parse_serving_config({"admission": {"retry_after_s": 0.5}})
