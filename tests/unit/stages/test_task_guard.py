"""Stages that handle binary labels only refuse another task early, naming the data set and the task; the
trainers (XGBoost and PyTorch), the promotion, the model server and the drift check take every task."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tradewind.config import REPO_ROOT, ConfigError
from tradewind.settings import Settings, load_settings
from tradewind.stages.outcome import StageInputError

pytestmark = pytest.mark.unit

# A three-class data set: ingestion, validation, both trainers, promotion, the model server and drift take
# it.
GRADES = {
    "name": "grades",
    "schema_version": 1,
    "source": {"kind": "files", "options": {"uri": "file:///nowhere/{date}/*.csv", "format": "csv"}},
    "id": "row_id",
    "label": "grade",
    "timestamp": "event_time",
    "task": "multiclass",
    "columns": {
        "row_id": {"type": "integer", "role": "id"},
        "event_time": {"type": "timestamp", "role": "timestamp"},
        "score": {"type": "numeric"},
        "grade": {"type": "categorical", "categories": ["low", "mid", "high"], "role": "label"},
    },
    "validation": {"row_count": {"min": 1, "max": 1000}},
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's config folder with the grades data set added."""
    folder = tmp_path_factory.mktemp("site") / "config"
    shutil.copytree(REPO_ROOT / "include" / "config", folder)
    (folder / "datasets" / "grades.yaml").write_text(yaml.safe_dump(GRADES, sort_keys=False), encoding="utf-8")
    return folder


@pytest.fixture
def settings(config: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    loaded = load_settings("local", config)
    for module in ("plan", "train", "drift", "promote"):
        monkeypatch.setattr(f"tradewind.stages.{module}.get_settings", lambda: loaded)
    return loaded


def test_the_spec_itself_loads(settings):
    assert settings.spec("grades").label_values == ("low", "mid", "high")


def test_planning_a_training_run_goes_on_to_look_for_data(settings, tmp_path):
    from tradewind.stages.plan import plan_training

    with pytest.raises(StageInputError, match="no validated grades partitions in the 7 days to 2026-01-05"):
        plan_training("grades", run_id="r1", client=None, date="2026-01-05", root=f"file://{tmp_path}")


@pytest.mark.parametrize("framework", ["xgboost", "torch"])
def test_training_goes_on_to_read_the_data(settings, tmp_path, framework):
    from tradewind.stages.train import TrainRequest, train

    request = TrainRequest("grades", framework, "2026-01-05", str(tmp_path / "model"), root=f"file://{tmp_path}")
    with pytest.raises(StageInputError, match="2026-01-05") as caught:
        train(request)
    assert "not supported" not in str(caught.value)
    assert "trains task" not in str(caught.value)


def test_promotion_goes_on_to_read_the_model(settings, tmp_path, client):
    from tradewind.stages.promote import promote

    with pytest.raises(StageInputError, match="not a Tradewind model folder") as caught:
        promote("grades", model_uri=str(tmp_path / "m"), dates=["2026-01-05"], client=client, tracking_uri="")
    assert "not supported" not in str(caught.value)


def test_a_drift_check_goes_on_to_look_for_the_champion(settings, client):
    from tradewind.stages.drift import check_champion

    client.create_registered_model("grades")  # registered, no champion yet
    event = check_champion("grades", client=client, tracking_uri="", end=dt.datetime.now(dt.UTC), window_hours=1)
    assert event["status"] == "skipped"
    assert event["reason"] == "no champion of grades yet: train one first (train_grades)"


def test_a_drift_check_against_a_stored_reference_goes_on_to_read_it(settings, tmp_path):
    from tradewind.stages.drift import check_reference

    with pytest.raises(StageInputError, match="no drift reference at") as caught:
        check_reference("grades", str(tmp_path / "reference.parquet"), hours=1)
    assert "not supported" not in str(caught.value)


def test_the_model_server_serves_the_task(settings, tmp_path):
    from tradewind.serving.app import create_app
    from tradewind.serving.config import load_serving_config

    serving = load_serving_config(model_name="grades", dataset="grades")
    # The spec's `score` column is one of the inference log's own: a clear error, not the task's refusal.
    with pytest.raises(ConfigError, match=r"column\(s\) score clash with the inference log's own columns"):
        create_app(serving, spec=settings.spec("grades"), log_root=f"file://{tmp_path}")
    serving = load_serving_config(model_name="grades", dataset="grades", inference_log={"enabled": False})
    app = create_app(serving, spec=settings.spec("grades"))
    answer = app.openapi()["components"]["schemas"]["ClassPrediction"]["properties"]["class"]
    assert answer["enum"] == ["low", "mid", "high"]


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (
            ["tradewind.serving", "--dataset", "grades", "--model-name", "grades"],
            "column(s) score clash with the inference log's own columns",
        ),
    ],
    ids=["model server"],
)
def test_the_command_lines_exit_as_bad_input(config, tmp_path, command, refusal):
    env = {**os.environ, "TRADEWIND_CONFIG_DIR": str(config), "TRADEWIND_STORAGE_ROOT": f"file://{tmp_path}/lake"}
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert refusal in done.stderr
    assert "Traceback" not in done.stderr
