"""`make demo` end to end: real Airflow on SQLite with every component, driven like a user would.

The demo runs in the environment a user's shell gives it: without the test session's Airflow
settings (``AIRFLOW__CORE__UNIT_TEST_MODE`` would make every DAG start unpaused), so every DAG is
paused at creation and the demo unpauses the ones it drives.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tradewind_dev.stack import AirflowStack, without_airflow_config

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_the_loop_from_raw_days_through_drift_to_a_canary_promoted_champion(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    env = {
        **without_airflow_config(os.environ),
        "TRADEWIND_PROFILE": "demo",
        "TRADEWIND_AIRFLOW_HOME": str(tmp_path / "airflow"),
        "TRADEWIND_STORAGE_ROOT": f"file://{lake}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    command = [
        sys.executable, "-m", "tradewind_dev.demo",
        "--port", str(_free_port()), "--serving-port", str(_free_port()), "--timeout", "420",
    ]  # fmt: skip
    proc = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        cwd=REPO,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Airflow has been stopped" in out

    good = ["2026-01-05", "2026-01-06", "2026-01-08"]
    for day in good:
        assert (lake / "validated" / "transactions" / f"date={day}" / "_manifest.json").exists(), day
    (result,) = (lake / "quarantine" / "transactions" / "date=2026-01-07").glob("*/validation_result.json")
    failures = json.loads(result.read_text())["failures"]
    assert {f["column"] for f in failures} >= {"amount", "merchant_category"}
    # The summary table names each run's outcome and where its outputs are.
    assert "quarantine: " + str(result.parent) in out
    for day in good:
        assert f"validated: {lake}/validated/transactions/date={day}" in out
    # The train DAG trained on the validated days and the first model became champion.
    assert "Training: model 'transactions' version 1 -> champion" in out
    from tradewind.registry.aliases import CHAMPION, current
    from tradewind.registry.store import make_client

    client = make_client(env["MLFLOW_TRACKING_URI"])
    # Then the champion was served and checked for drift: none. Drift was switched on (new days and
    # traffic shifted), the drift check found it, and its Asset event started the retrain; the new
    # model passed the gate, became challenger, and the canary promoted it. No request failed.
    normal = r"Drift:      normal traffic: no_drift \(\d+ rows; share 0\.\d+; drifted: none\)"
    assert re.search(normal, out), out[-3000:]
    shifted = r"Drift:      drifted traffic \(covariate_shift\): drift \(\d+ rows; share [\d.]+; drifted: ([^)]*)\)"
    drifted = re.search(shifted, out)
    assert drifted, out[-3000:]
    assert "amount" in drifted.group(1)
    # One report per check, named in its progress line and in the summary.
    reports = set(re.findall(r"report: (\S+/reports/drift/transactions/v1/\S+/drift_report\.html)", out))
    assert len(reports) == 2, reports
    assert all(Path(r).exists() for r in reports)
    assert "Retrain:    started by the drift Asset; version 2 passed the gate -> challenger" in out
    assert "Canary:     v2 promoted to champion (10%: passed, 50%: passed, 100%: passed)" in out
    assert re.search(r"Traffic:    normal: \d+ requests, 0 failed; answered by champion \d+", out), out[-3000:]
    assert re.search(r"Traffic:    drifted: \d+ requests, 0 failed; answered by challenger \d+, champion \d+", out)
    assert "Now:        champion v2 serving (server holds v2)" in out
    assert current(client, "transactions", CHAMPION) == "2"
    assert current(client, "transactions", "previous-champion") == "1"
    # Lineage: the champion's run names the data it trained on by the hash of the validated manifests.
    from tradewind.data.validated import combined_hash, content_hashes, parse_dates, validated_manifests
    from tradewind.registry.promotion import DATA_HASH_TAG
    from tradewind.settings import load_settings

    spec = load_settings("demo").spec("transactions")
    manifests = validated_manifests(spec, f"file://{lake}", parse_dates(good))
    run = client.get_run(client.get_model_version("transactions", "1").run_id)  # the first champion
    assert run.data.tags[DATA_HASH_TAG] == combined_hash(content_hashes(manifests))
    # The second model came from a run of the train DAG that the drift Asset started.
    retrained = client.get_run(client.get_model_version("transactions", "2").run_id)
    assert retrained.data.tags["airflow.run_id"].startswith("asset_triggered__")
    assert json.loads(client.get_model_version("transactions", "1").tags["tradewind.drift"])["status"] == "drift"
    # The model folder the train task wrote is in the lake, beside its checkpoints.
    assert list((lake / "models" / "transactions").glob("*/model/tradewind_model.json"))
    # Stopped cleanly: no process of the stack left behind (components, workers, the model server).
    assert json.loads((tmp_path / "airflow" / "run" / "stack.json").read_text())["processes"] == {}
    assert AirflowStack(tmp_path / "airflow").processes() == []  # found by the stack's id the state file keeps
    # DAGs start paused, as in a user's installation: one the demo never drives stayed paused and never ran.
    with contextlib.closing(sqlite3.connect(tmp_path / "airflow" / "airflow.db")) as db:
        paused = dict(db.execute("SELECT dag_id, is_paused FROM dag").fetchall())
        ran = {dag_id for (dag_id,) in db.execute("SELECT DISTINCT dag_id FROM dag_run")}
    assert paused.get("rollback_transactions") == 1, paused
    assert "rollback_transactions" not in ran, ran
