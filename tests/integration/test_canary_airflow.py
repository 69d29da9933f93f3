"""The canary through real Airflow, against a real model server process and a real MLflow registry.

A load generator sends steady traffic the whole time. The canary DAG runs twice: once with a
healthy challenger, which goes through 10% -> 50% -> 100% and becomes champion; once with a
faulty one (a network whose weights are NaN: every score it gives is invalid), which the canary
rolls back at its first stage, naming the error-rate SLO. Not one request of valid input fails
across both runs: a request the challenger fails on is answered by the champion.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from tests.integration.conftest import (
    TERMINAL,
    assert_untouched_dags_stay_paused,
    free_port,
    running_stack,
    wait_until,
)
from tradewind_dev.stack import AirflowStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL = "transactions"
TOKEN = "integration-admin-token"
CANARY = {
    "stages": [10, 50, 100],
    "bake_seconds": 2,
    "min_requests": 20,
    "poll_interval_seconds": 1,
    "stage_timeout_seconds": 240,
}


def _poison(model: Any) -> None:
    """Make a trained PyTorch model answer NaN for every record (a broken release)."""
    import torch

    with torch.no_grad():
        for parameter in model.backend.module.mlp.parameters():
            parameter.fill_(float("nan"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A SQLite registry with three versions: 1 champion (XGBoost), 2 healthy (XGBoost), 3 faulty (torch)."""
    from tradewind.data import synthetic
    from tradewind.registry.aliases import CHAMPION, move_alias
    from tradewind.registry.pyfunc import pyfunc_logger
    from tradewind.registry.store import make_client
    from tradewind.registry.tracking import log_training_run
    from tradewind.registry.versions import register_version
    from tradewind.settings import load_settings
    from tradewind.training.trainer import train

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = make_client(uri)
    spec = load_settings("local").spec(MODEL)
    rows = pd.concat(
        [synthetic.generate_day(dt.date(2026, 1, d), rows_per_day=3000) for d in (5, 6)], ignore_index=True
    )
    versions = {}
    for key, framework, params in (
        ("champion", "xgboost", {"num_boost_round": 30, "max_depth": 3, "nthread": 1}),
        ("healthy", "xgboost", {"num_boost_round": 40, "max_depth": 4, "nthread": 1}),
        ("faulty", "torch", {"epochs": 1, "hidden": [8]}),
    ):
        result = train(spec, rows, framework, params, data_hashes={"2026-01-05": f"canary-it-{key}"})
        if key == "faulty":
            _poison(result.model)
        folder = root / key
        result.model.save(str(folder))
        run = log_training_run(
            client,
            "canary-it",
            framework=framework,
            params=params,
            metrics=result.metrics,
            data_hashes={f"{MODEL}/2026-01-05": f"canary-it-{key}"},
            code_revision="integration",
            model_logger=pyfunc_logger(folder, rows),
        )
        versions[key] = str(register_version(client, MODEL, run.run_id).version)
    move_alias(client, MODEL, CHAMPION, versions["champion"], reason="test", triggered_by="test", expected_current=None)
    return {"uri": uri, "client": client, "versions": versions, "rows": rows}


@pytest.fixture(scope="module")
def server(registry: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m tradewind.serving`` in its own process, ready once it has loaded the champion."""
    lake = tmp_path_factory.mktemp("serving-lake")
    log = tmp_path_factory.mktemp("serving-log") / "server.log"
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": registry["uri"],
        "TRADEWIND_SERVING_ADMIN_TOKEN": TOKEN,
        "TRADEWIND_STORAGE_ROOT": f"file://{lake}",
        "TRADEWIND_PROFILE": "local",
    }
    command = [sys.executable, "-m", "tradewind.serving", "--model-name", MODEL, "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None and pytest.fail(f"the server exited:\n{log.read_text()[-3000:]}")

    try:
        wait_until(ready, 180, "the model server to load the champion", every=1.0)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        print(f"==== model server log\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, airflow_db: str, registry: dict[str, Any], server: str
) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("airflow-home")
    config = tmp_path_factory.mktemp("config") / "config"
    shutil.copytree(REPO / "include" / "config", config)
    (config / "canary.yaml").write_text(yaml.safe_dump(CANARY), encoding="utf-8")
    env = {
        "TRADEWIND_CONFIG_DIR": str(config),
        "MLFLOW_TRACKING_URI": registry["uri"],
        "TRADEWIND_SERVING_URL": server,
        "TRADEWIND_SERVING_ADMIN_TOKEN": TOKEN,
    }
    components = ("scheduler", "dag-processor", "triggerer", "api-server")
    with running_stack(home, airflow_db, env, ["canary_transactions"], components) as st:
        yield st


def _canary(stack: AirflowStack) -> tuple[str, dict[str, Any]]:
    run_id = stack.trigger("canary_transactions", {})
    run = wait_until(
        lambda: (r := stack.run("canary_transactions", run_id))["state"] in TERMINAL and r,
        600,
        f"canary run {run_id}",
    )
    return run["state"], run


def _traffic(server: str) -> dict[str, Any]:
    return httpx.get(f"{server}/admin/traffic", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()


def test_the_canary_promotes_a_healthy_challenger_and_rolls_back_a_faulty_one(
    stack: AirflowStack, registry: dict[str, Any], server: str
) -> None:
    from tradewind.registry.aliases import (
        CHALLENGER,
        CHAMPION,
        PREVIOUS_CHAMPION,
        alias_history,
        current,
        set_challenger,
    )
    from tradewind.serving.loadgen import BackgroundLoad, sample_records
    from tradewind.settings import load_settings
    from tradewind_airflow.operators.canary import CANARY_TAG

    client, versions = registry["client"], registry["versions"]
    with BackgroundLoad(
        server, sample_records(load_settings("demo").spec("transactions"), count=500), rate_per_s=25, concurrency=4
    ) as load:
        # 1. A healthy challenger goes through every stage and becomes champion.
        set_challenger(client, MODEL, versions["healthy"], reason="integration", triggered_by="test")
        state, run = _canary(stack)
        assert state == "success", run
        assert current(client, MODEL, CHAMPION) == versions["healthy"]
        assert current(client, MODEL, PREVIOUS_CHAMPION) == versions["champion"]
        assert current(client, MODEL, CHALLENGER) is None
        promoted = json.loads(client.get_model_version(MODEL, versions["healthy"]).tags[CANARY_TAG])
        assert promoted["result"] == "promoted"
        assert [s["percent"] for s in promoted["stages"]] == [10, 50, 100]
        served = _traffic(server)
        assert served["champion"]["version"] == versions["healthy"]
        assert served["challenger"] is None

        # 2. A faulty challenger is rolled back at its first stage; the champion never moves.
        set_challenger(client, MODEL, versions["faulty"], reason="integration", triggered_by="test")
        state, run = _canary(stack)
        assert state == "failed", run
        assert current(client, MODEL, CHAMPION) == versions["healthy"]
        assert current(client, MODEL, CHALLENGER) is None
        verdict = json.loads(client.get_model_version(MODEL, versions["faulty"]).tags[CANARY_TAG])
        assert verdict["result"] == "rolled back"
        assert verdict["failed_at_percent"] == 10
        assert "error rate" in verdict["reason"]
        served = _traffic(server)
        assert served["challenger_percent"] == 0
        assert served["challenger"] is None
        report = load.stop()

    assert report.sent > 200
    assert report.failed == 0, report.to_dict()
    assert {"champion", "challenger"} <= set(report.by_variant)
    moves = [(m["alias"], m["to"]) for m in alias_history(client, MODEL)]
    assert (CHAMPION, versions["healthy"]) in moves
    assert (CHALLENGER, None) in moves


def test_every_dag_but_the_canary_stayed_paused_and_never_ran(stack: AirflowStack) -> None:
    """The stack runs the shipped DAGs as a user's Airflow would: paused at creation. Only the canary
    was unpaused, so no ingest, train or drift run registered a version behind the canary's back."""
    assert_untouched_dags_stay_paused(stack, {"canary_transactions"}, REPO / "dags")
