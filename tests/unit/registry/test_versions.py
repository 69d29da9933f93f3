"""Registered versions: one per run, loadable, and carrying the gate's decision."""

from __future__ import annotations

import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from tests.unit.registry.conftest import FEATURES, LoggedModel
from tradewind.registry.gate import Decision
from tradewind.registry.versions import read_decision, record_decision, register_version

pytestmark = pytest.mark.unit


def test_register_is_idempotent_per_run(client: MlflowClient, logged: LoggedModel, model_name: str) -> None:
    first = register_version(client, model_name, logged.run.run_id, "model")
    second = register_version(client, model_name, logged.run.run_id, "model")
    assert first.version == second.version
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1
    assert (first.source or "").startswith("models:/m-")
    assert first.run_id == logged.run.run_id


def test_registered_version_loads_and_predicts(client: MlflowClient, logged: LoggedModel, model_name: str) -> None:
    version = register_version(client, model_name, logged.run.run_id)
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri(model_name, version.version))
    assert len(model.predict(logged.frame[FEATURES].head(5))) == 5
    assert model.metadata.signature is not None


def test_record_decision_tags_the_version(client: MlflowClient, logged: LoggedModel, model_name: str) -> None:
    version = register_version(client, model_name, logged.run.run_id)
    decision = Decision(passed=False, action="reject", reasons=["ece = 0.2 > 0.05 (max_ece)"], notes=["ok"])
    record_decision(client, model_name, version.version, decision)
    assert read_decision(client, model_name, version.version) == {
        "action": "reject",
        "passed": False,
        "reasons": ["ece = 0.2 > 0.05 (max_ece)"],
        "notes": ["ok"],
    }
    assert client.get_registered_model(model_name).aliases == {}


def test_no_decision_yet(client: MlflowClient, logged: LoggedModel, model_name: str) -> None:
    version = register_version(client, model_name, logged.run.run_id)
    assert read_decision(client, model_name, version.version) is None
