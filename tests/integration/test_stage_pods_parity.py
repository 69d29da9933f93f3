"""The heavy stages' pods, run as a cluster would run them, give the local path's outcome.

A profile like the cloud ones (stages and training on Kubernetes) but with its lake and MLflow store on
this machine renders the validate, train and drift pods from the DAG files, as the operators build them.
Each pod's container command, arguments and environment then run here, in a virtual environment built from
the stage image's requirements (docker/trainer/requirements.txt: no Airflow), with the image's
PYTHONPATH and config folder; the outcome is read from the file the XCom sidecar would return. The same
stage on the local path (as the worker runs it) must give the same outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DATES = ["2026-01-05", "2026-01-06", "2026-01-07"]
DRIFT_END = "2026-01-09T00:00:00+00:00"
PROFILE = "podcheck"

# Parses dags/ on the profile and builds the three pods as the operators do (the provider's own
# build_pod_request_obj, with the run's form, plan and partition); prints each main container.
RENDER = r"""
import json, sys
from unittest import mock
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag

plan = json.loads(sys.argv[2])
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
hook = mock.Mock(is_in_cluster=False, **{f"get_xcom_sidecar_container_{k}.return_value": None
                                         for k in ("image", "resources", "security_context")})
class TI:
    def xcom_pull(self, task_ids=None, **_):
        return plan if task_ids == "plan" else None
out = {}
def build(task, context):
    task.__dict__["hook"] = hook
    if hasattr(task, "stage_arguments"):
        task.arguments = task.stage_arguments(context)
    pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
    (main,) = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
    return {"command": main["command"], "args": main["args"], "env": {e["name"]: e.get("value") for e in main["env"]}}

validate = bag.dags["validate_transactions"].get_task("validate_partition")
kwargs = {k: v for k, v in validate.partial_kwargs.items() if k in ("dataset", "gpu_profile", "env", "namespace")}
task = validate.operator_class(task_id="validate_partition", partition={"partition_date": sys.argv[3]}, **kwargs)
out["validate"] = build(task, {"params": {}})

train_dag = bag.dags["train_transactions"]
train = train_dag.get_task("train_pod")
form = {k: train_dag.params[k] for k in train_dag.params} | {"gpu_profile": "cpu-small"}
form["hyperparameters"] = {"max_depth": 3, "num_boost_round": 40, "nthread": 2}
context = {"params": form, "ti": TI()}
train.render_template_fields(context, jinja_env=train_dag.get_template_env())
out["train"] = build(train, context)

drift_dag = bag.dags["drift_transactions"]
drift = drift_dag.get_task("check_drift")
form = {"params": {"window_hours": 48, "end": sys.argv[4]}}
drift.render_template_fields(form, jinja_env=drift_dag.get_template_env())
out["drift"] = build(drift, {"params": {}})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def stage_python() -> Path:
    """The stage image's interpreter: an environment from docker/trainer/requirements.txt, without Airflow."""
    venv = Path(os.environ.get("TRADEWIND_STAGE_VENV") or REPO / ".venv-stage")
    python = venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no stage environment at {venv}: `make stage-venv` builds it (make test does)")
        pytest.skip(f"no stage environment at {venv} (make stage-venv)")
    probe = subprocess.run([str(python), "-c", "import airflow"], capture_output=True, text=True, check=False)
    assert probe.returncode != 0, "the stage environment must not have Airflow"
    return python


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A config folder with the cluster-shaped profile, its lake and its MLflow store."""
    root = tmp_path_factory.mktemp("podcheck")
    config = root / "config"
    shutil.copytree(REPO / "include" / "config", config)
    profile = {
        "name": PROFILE,
        "extends": "local",
        "storage": {"root": f"file://{root}/lake"},
        "mlflow": {"tracking_uri": f"sqlite:///{root}/mlflow.db"},
        "training": {"backend": "kubernetes", "backends": ["kubernetes", "local"], "gpu_profile": "cpu-small"},
        "stages": {"backend": "kubernetes", "gpu_profile": "cpu-small"},
        "dataset_overrides": {"transactions": {"source": {"options": {"rows_per_day": 3000}}}},
        # A few thousand rows make a model the shipped gate would reject on calibration; drift is what is checked.
        "promotion": {"max_ece": 1.0, "min_holdout_positives": 1},
    }
    (config / "profiles" / f"{PROFILE}.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    return {"root": root, "config": config, "lake": root / "lake"}


def _env(site: dict[str, Path], **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWIND_", "MLFLOW_", "AIRFLOW__CORE__UNIT"))}
    return {**keep, "TRADEWIND_PROFILE": PROFILE, "TRADEWIND_CONFIG_DIR": str(site["config"]), **extra}


@pytest.fixture(scope="module")
def pods(site: dict[str, Path], airflow_home: Path) -> dict[str, dict[str, Any]]:
    lake = f"file://{site['lake']}"
    plan = {
        "dates": DATES,
        "root": lake,
        "model_uri": f"{lake}/models/transactions/pod/model",
        "checkpoint_uri": f"{lake}/models/transactions/pod/checkpoints",
    }
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, str(REPO / "dags"), json.dumps(plan), DATES[-1], DRIFT_END],
        capture_output=True, text=True, timeout=300, check=False, env=_env(site, AIRFLOW_HOME=str(airflow_home)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_pod(pod: dict[str, Any], python: Path, site: dict[str, Path], tmp_path: Path) -> dict[str, Any]:
    """The pod's command, arguments and environment in the stage environment, as the image runs them
    (PYTHONPATH and TRADEWIND_CONFIG_DIR as the Dockerfile sets them); its outcome from the XCom file."""
    assert pod["command"] == ["python", "-m", "tradewind"]
    result = tmp_path / "return.json"
    env = {**pod["env"], "TRADEWIND_RESULT_FILE": str(result)}  # the sidecar's file, here
    env.update(PYTHONPATH=str(REPO / "include"), TRADEWIND_CONFIG_DIR=str(site["config"]), PATH=os.environ["PATH"])
    env.update(HOME=str(tmp_path), GX_ANALYTICS_ENABLED="False")
    proc = subprocess.run(
        [str(python), "-m", "tradewind", *pod["args"]], capture_output=True, text=True, timeout=600, check=False,
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "airflow" not in proc.stderr.lower().replace("airflow/xcom", "")
    return json.loads(result.read_text(encoding="utf-8"))


def run_local(args: list[str], site: dict[str, Path], **env: str) -> dict[str, Any]:
    """The local path: the same stage as the worker's subprocess runs it (the project's environment)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tradewind", *args], capture_output=True, text=True, timeout=600, check=False,
        env=_env(site, **env),
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def landed(site: dict[str, Path]) -> None:
    """Every day ingested and validated through the local path: each test stands on its own (the train and
    drift pods need the validated window whether or not the validate test ran first)."""
    for day in DATES:
        run_local(["ingest", "--dataset", "transactions", "--date", day], site)
        run_local(["validate", "--dataset", "transactions", "--date", day], site)


def test_validate_in_the_pod_gives_the_local_outcome(pods, stage_python, site, landed, tmp_path) -> None:
    local_args = [a for a in pods["validate"]["args"] if a not in ("--reject-code", "0")]
    local = run_local(local_args, site)
    in_pod = run_pod(pods["validate"], stage_python, site, tmp_path)
    assert local["success"], local["message"]
    assert in_pod == local


def test_train_in_the_pod_gives_the_local_outcome(pods, stage_python, site, landed, tmp_path) -> None:
    args = pods["train"]["args"]
    assert args[0] == "train"
    in_pod = run_pod(pods["train"], stage_python, site, tmp_path)
    local_args = list(args)
    local_args[args.index("--out") + 1] = f"file://{site['root']}/local-model"
    local_args[args.index("--checkpoint-dir") + 1] = f"file://{site['root']}/local-checkpoints"
    local = run_local(local_args, site)
    volatile = {"elapsed_s", "model_uri"}
    assert {k: v for k, v in in_pod.items() if k not in volatile} == {
        k: v for k, v in local.items() if k not in volatile
    }
    assert in_pod["split"]["rows"]["holdout"] > 0
    assert in_pod["task"] == "binary"


def test_drift_in_the_pod_gives_the_local_outcome(pods, stage_python, site, landed, tmp_path) -> None:
    """A champion (trained and promoted through the stage CLI) and a day of shifted traffic in its log."""
    from tests.unit.monitoring.conftest import day, served, write_log
    from tradewind.data.synthetic import DriftKnobs
    from tradewind.settings import load_settings

    train_args = pods["train"]["args"]
    model_uri = train_args[train_args.index("--out") + 1]
    if not (Path(model_uri.removeprefix("file://")) / "tradewind_model.json").exists():
        run_local(train_args, site)
    promoted = run_local(
        ["promote", "--dataset", "transactions", "--model-uri", model_uri, "--dates", ",".join(DATES)], site
    )
    assert promoted["action"] == "champion", promoted
    spec = load_settings(PROFILE, config_dir=site["config"]).spec("transactions")
    shifted = day(1500, seed=5, when=dt.date(2026, 1, 8), drift=DriftKnobs(covariate_shift=1.0))
    served_at = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)
    write_log(site["lake"], spec, [(served(shifted, spec), promoted["version"], False, served_at)])

    in_pod = run_pod(pods["drift"], stage_python, site, tmp_path)
    local = run_local(pods["drift"]["args"], site)
    assert in_pod["status"] == "drift", in_pod
    assert in_pod["model_version"] == promoted["version"]
    volatile = {"report", "report_folder", "checked_at"}
    assert {k: v for k, v in in_pod.items() if k not in volatile} == {
        k: v for k, v in local.items() if k not in volatile
    }
