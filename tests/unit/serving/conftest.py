"""Fixtures of the serving tests: real Tradewind models logged to the session's MLflow store.

Two small XGBoost models ("a" and "b", different scores) are trained and logged once per session
as pyfunc models with signatures, exactly as the promotion step logs them. Each test gets its own
registered-model name whose versions point at those logged models (creating a version is cheap),
and an app factory that serves it with the real registry loader.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from tradewind.data import synthetic
from tradewind.data.spec import DatasetSpec
from tradewind.registry.pyfunc import pyfunc_logger
from tradewind.registry.store import using_tracking_uri
from tradewind.registry.tracking import log_training_run
from tradewind.registry.versions import _ensure_registered_model, model_source
from tradewind.serving.app import ModelServer, create_app
from tradewind.serving.config import parse_serving_config
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.training.model import TrainedModel, load_model
from tradewind.training.trainer import train

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PARAMS = {
    "a": {"num_boost_round": 25, "max_depth": 3, "nthread": 1},
    "b": {"num_boost_round": 8, "max_depth": 2, "nthread": 1},
}
_names = itertools.count(1)


@dataclass(frozen=True)
class LoggedModel:
    """A Tradewind model logged as a pyfunc in the session's store, and the same model loaded locally."""

    run_id: str
    source: str
    model_id: str | None
    model: TrainedModel


@pytest.fixture(scope="session")
def raw_rows() -> pd.DataFrame:
    """Raw records of two synthetic days (the spec's columns, label included)."""
    days = [synthetic.generate_day(dt.date(2026, 1, d), rows_per_day=2000) for d in (5, 6)]
    return pd.concat(days, ignore_index=True)


@pytest.fixture(scope="session")
def logged_models(
    client: MlflowClient, raw_rows: pd.DataFrame, shipped_spec: DatasetSpec, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, LoggedModel]:
    out = {}
    for key, params in PARAMS.items():
        result = train(shipped_spec, raw_rows, "xgboost", params, data_hashes={"2026-01-05": f"serving-{key}"})
        model_dir = tmp_path_factory.mktemp(f"model-{key}")
        result.model.save(str(model_dir))
        run = log_training_run(
            client,
            "serving-tests",
            framework="xgboost",
            params=params,
            metrics=result.metrics,
            data_hashes={"transactions/2026-01-05": f"serving-{key}"},
            code_revision="test",
            model_logger=pyfunc_logger(model_dir, raw_rows),
        )
        source, model_id = model_source(client, run.run_id, "model")
        out[key] = LoggedModel(run_id=run.run_id, source=source, model_id=model_id, model=load_model(str(model_dir)))
    return out


@dataclass
class Registry:
    """One registered model of the session's store, for one test."""

    client: MlflowClient
    logged: dict[str, LoggedModel]
    name: str = field(default_factory=lambda: f"serving-{next(_names)}")
    models: dict[str, str] = field(default_factory=dict)  # version -> "a" | "b"

    def add(self, which: str = "a") -> str:
        """A new version of this model that is logged model ``which``."""
        _ensure_registered_model(self.client, self.name)
        logged = self.logged[which]
        with using_tracking_uri(self.client.tracking_uri):
            version = self.client.create_model_version(
                self.name, source=logged.source, run_id=logged.run_id, model_id=logged.model_id
            )
        self.models[str(version.version)] = which
        return str(version.version)

    def point(self, alias: str, version: str | None) -> None:
        if version is None:
            self.client.delete_registered_model_alias(self.name, alias)
        else:
            self.client.set_registered_model_alias(self.name, alias, version)

    def model_of(self, version: str) -> TrainedModel:
        return self.logged[self.models[version]].model


@pytest.fixture
def registry(client: MlflowClient, logged_models: dict[str, LoggedModel]) -> Registry:
    return Registry(client=client, logged=logged_models)


@pytest.fixture
def champion_only(registry: Registry) -> Registry:
    """Version 1 (model a) is champion; no challenger."""
    registry.point(CHAMPION, registry.add("a"))
    return registry


@pytest.fixture
def with_challenger(registry: Registry) -> Registry:
    """Version 1 (model a) is champion, version 2 (model b) challenger."""
    registry.point(CHAMPION, registry.add("a"))
    registry.point(CHALLENGER, registry.add("b"))
    return registry


@pytest.fixture
def log_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def make_app(store: str, shipped_spec: DatasetSpec, registry: Registry, log_root: Path) -> Callable[..., FastAPI]:
    """``make(**serving_config)``: an app on this test's registered model, models loaded before it starts."""

    def make(
        *, admin_token: str | None = TOKEN, loader: Any = None, log_uri: str | None = None, **config: Any
    ) -> FastAPI:
        settings = {
            "model_name": registry.name,
            "dataset": "transactions",
            "reload_interval_s": 3600,
            "inference_log": {"flush_interval_s": 3600, "flush_rows": 100_000},
            **config,
        }
        app = create_app(
            parse_serving_config(settings),
            tracking_uri=store,
            spec=shipped_spec,
            log_root=log_uri or f"file://{log_root}",
            admin_token=admin_token,
            loader=loader,
        )
        server_of(app).holder.refresh()
        return app

    return make


@pytest.fixture
def serve(make_app: Callable[..., FastAPI]) -> Iterator[Callable[..., TestClient]]:
    """``serve(**config)``: a started TestClient (lifespan running) on a fresh app; stopped after the test."""
    clients: list[TestClient] = []

    def start(**config: Any) -> TestClient:
        test_client = TestClient(make_app(**config), raise_server_exceptions=False)
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield start
    for test_client in clients:
        test_client.__exit__(None, None, None)


def server_of(app_or_client: FastAPI | TestClient) -> ModelServer:
    app = app_or_client.app if isinstance(app_or_client, TestClient) else app_or_client
    server: ModelServer = app.state.server  # type: ignore[union-attr]
    return server


def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Raw rows as a client posts them: JSON values, ISO timestamps, no label."""
    return json.loads(rows.drop(columns=["is_fraud"], errors="ignore").to_json(orient="records", date_format="iso"))


def payload(rows: pd.DataFrame) -> dict[str, Any]:
    return {"instances": records(rows)}


def wait_for(predicate: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.05)


class Hammer:
    """Threads that post predict requests in a loop until stopped, recording every outcome."""

    def __init__(self, client: TestClient, body: dict[str, Any], threads: int = 3) -> None:
        self.client = client
        self.body = body
        self.outcomes: list[tuple[float, float, int, dict[str, Any]]] = []  # (start, end, status, json)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        self._lock = threading.Lock()

    def _run(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            response = self.client.post(
                "/predict", json=self.body, headers={"X-Tradewind-Entity": f"customer-{worker}-{n}"}
            )
            try:
                body = response.json()
            except ValueError:
                body = {"raw": response.text}
            with self._lock:
                self.outcomes.append((started, time.monotonic(), response.status_code, body))

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
