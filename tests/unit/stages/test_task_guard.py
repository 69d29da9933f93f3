"""Stages that handle binary labels only refuse another task early, naming the data set and the task; the
XGBoost trainer takes every task (the PyTorch one binary only)."""

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

# A three-class data set: ingestion, validation, XGBoost, promotion and the model server take it; PyTorch and
# drift do not yet.
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
REFUSAL = "data set 'grades': task multiclass is not supported by {} yet"
TORCH_REFUSAL = "data set 'grades': framework torch trains task binary only, not multiclass: use framework xgboost"


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


def test_xgboost_training_goes_on_to_read_the_data(settings, tmp_path):
    from tradewind.stages.train import TrainRequest, train

    request = TrainRequest("grades", "xgboost", "2026-01-05", str(tmp_path / "model"), root=f"file://{tmp_path}")
    with pytest.raises(StageInputError, match="2026-01-05") as caught:
        train(request)
    assert "not supported" not in str(caught.value)


def test_torch_training_is_refused_before_any_worker_starts(settings, tmp_path):
    from tradewind.stages.train import TrainRequest, train

    request = TrainRequest("grades", "torch", "2026-01-05", str(tmp_path / "model"), workers=2)
    with pytest.raises(StageInputError, match=TORCH_REFUSAL):
        train(request)
    assert not (tmp_path / "model").exists()


def test_promotion_goes_on_to_read_the_model(settings, tmp_path, client):
    from tradewind.stages.promote import promote

    with pytest.raises(StageInputError, match="not a Tradewind model folder") as caught:
        promote("grades", model_uri=str(tmp_path / "m"), dates=["2026-01-05"], client=client, tracking_uri="")
    assert "not supported" not in str(caught.value)


def test_a_drift_check_is_refused(settings):
    from tradewind.stages.drift import check_champion

    with pytest.raises(StageInputError, match=REFUSAL.format("the drift check")):
        check_champion("grades", client=None, tracking_uri="", end=dt.datetime.now(dt.UTC), window_hours=1)


def test_a_drift_check_against_a_stored_reference_is_refused(settings, tmp_path):
    from tradewind.stages.drift import check_reference

    with pytest.raises(StageInputError, match=REFUSAL.format("the drift check")):
        check_reference("grades", str(tmp_path / "reference.parquet"), hours=1)


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
            [
                "tradewind",
                "train",
                "--framework",
                "torch",
                "--dataset",
                "grades",
                "--dates",
                "2026-01-05",
                "--out",
                "{tmp}/m",
            ],
            TORCH_REFUSAL,
        ),
        (
            ["tradewind.serving", "--dataset", "grades", "--model-name", "grades"],
            "column(s) score clash with the inference log's own columns",
        ),
    ],
    ids=["torch train stage", "model server"],
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
