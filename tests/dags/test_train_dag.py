"""The train DAG: its form, the backend branch, and the same DAG file on a profile with a cluster.

On the default profile the DAG offers the local backend only and never loads the Kubernetes
provider. On a profile whose ``training.backends`` include ``kubernetes`` (a copy of the shipped
config with one more profile), the same file adds ``train_pod`` and ``train_job``; rendering them
with a run's form values and plan gives the pod and the indexed Job that would go to the cluster,
and both validate against the Kubernetes schema.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradewind.k8s.profiles import load_gpu_profiles

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
TRAIN_DAG = REPO / "dags" / "train.py"

# Parses dags/train.py in a fresh interpreter (the settings are read once per process), renders the
# Kubernetes train tasks for one form and plan, and prints what they would send to the cluster.
RENDER = r"""
import json, sys
from unittest import mock
from kubernetes.client import ApiClient
from airflow.dag_processing.dagbag import DagBag

form, plan = json.loads(sys.argv[2]), json.loads(sys.argv[3])
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
dag = bag.dags["train_transactions"]
out = {"tasks": sorted(dag.task_ids), "params": {k: dag.params.get_param(k).schema for k in ("backend", "gpu_profile")}}
branch = dag.get_task("choose_backend")
out["branch"] = {p: branch.python_callable(params={**form, "gpu_profile": p}) for p in sys.argv[4].split(",")}
class PlanTI:  # what the plan task pushed
    def xcom_pull(self, task_ids=None, **_):
        return plan if task_ids == "plan" else None
context = {"params": form, "ti": PlanTI()}
for task_id in ("train_pod", "train_job"):
    task = dag.get_task(task_id)
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    task.__dict__["hook"] = mock.Mock(is_in_cluster=False)
    built = task.build_job_request_obj() if task_id == "train_job" else task.build_pod_request_obj(dry_run=True)
    out[task_id] = ApiClient().sanitize_for_serialization(built)
print(json.dumps(out))
"""

PLAN = {
    "dates": ["2026-01-05", "2026-01-06"],
    "data_hash": "abc",
    "root": "s3://tradewind-lake",
    "model_uri": "s3://tradewind-lake/models/transactions/manual__1/model",
    "checkpoint_uri": "s3://tradewind-lake/models/transactions/manual__1/checkpoints",
}


class PlanTI:
    """A task instance as templates see it: ``xcom_pull`` of the plan task gives PLAN."""

    def xcom_pull(self, task_ids: str | None = None, **_: Any) -> Any:
        return PLAN if task_ids == "plan" else None


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(TRAIN_DAG))


def test_the_form_offers_the_profile_backends_and_every_gpu_profile(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    dag = dagbag.dags["train_transactions"]
    assert dag.params.get_param("backend").schema["enum"] == ["local"]
    assert dag.params["backend"] == "local"
    assert dag.params.get_param("gpu_profile").schema["enum"] == sorted(load_gpu_profiles())
    assert dag.params["gpu_profile"] == "cpu-small"
    assert set(dag.task_ids) == {"plan", "choose_backend", "train_local", "promote", "announce_challenger"}
    assert dag.get_task("promote").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("train_local").upstream_task_ids == {"choose_backend"}


def test_the_local_task_runs_the_trainer_cli_with_the_plan_and_the_form(dagbag: Any) -> None:
    dag = dagbag.dags["train_transactions"]
    task = dag.get_task("train_local")
    form = {"framework": "torch", "hyperparameters": {"epochs": 3}, "gpu_profile": "cpu-small-x2"}
    task.render_template_fields({"params": form, "ti": PlanTI()}, jinja_env=dag.get_template_env())
    args = task.arguments
    assert args[0] == "train"
    assert args[args.index("--framework") + 1] == "torch"
    assert args[args.index("--dates") + 1] == "2026-01-05,2026-01-06"
    assert json.loads(args[args.index("--params") + 1]) == {"epochs": 3}
    assert args[args.index("--out") + 1] == PLAN["model_uri"]
    assert args[args.index("--checkpoint-dir") + 1] == PLAN["checkpoint_uri"]
    assert task.gpu_profile == "cpu-small-x2"


def test_the_branch_picks_local_whatever_the_profile(dagbag: Any) -> None:
    branch = dagbag.dags["train_transactions"].get_task("choose_backend")
    for name in load_gpu_profiles():
        assert branch.python_callable(params={"backend": "local", "gpu_profile": name}) == "train_local"


@pytest.fixture(scope="module")
def cluster_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped config plus a profile that trains on Kubernetes and keeps data in S3."""
    config = tmp_path_factory.mktemp("config") / "config"
    shutil.copytree(REPO / "include" / "config", config)
    profile = {
        "name": "cluster",
        "extends": "local",
        "storage": {"root": "s3://tradewind-lake", "conn_id": "aws_default"},
        "training": {
            "backend": "kubernetes",
            "backends": ["kubernetes", "local"],
            "gpu_profile": "gpu-t4-spot",
            "namespace": "ml",
        },
    }
    (config / "profiles" / "cluster.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    return config


def _render(config: Path, airflow_home: Path, form: dict[str, Any], profiles: list[str]) -> dict[str, Any]:
    env = {**os.environ, "TRADEWIND_CONFIG_DIR": str(config), "TRADEWIND_PROFILE": "cluster"}
    env.pop("TRADEWIND_STORAGE_ROOT", None)
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, str(TRAIN_DAG), json.dumps(form), json.dumps(PLAN), ",".join(profiles)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_on_a_cluster_profile_the_same_dag_trains_in_a_pod_or_an_indexed_job(
    cluster_config: Path, airflow_home: Path, validate_k8s: Any
) -> None:
    profiles = load_gpu_profiles()
    form = {"backend": "kubernetes", "gpu_profile": "gpu-a100-x2-ddp", "framework": "torch", "hyperparameters": {}}
    out = _render(cluster_config, airflow_home, form, sorted(profiles))

    assert {"train_local", "train_pod", "train_job"} <= set(out["tasks"])
    assert out["params"]["backend"]["enum"] == ["kubernetes", "local"]
    for name, chosen in out["branch"].items():
        assert chosen == ("train_job" if profiles[name].is_distributed else "train_pod"), name

    job = out["train_job"]
    validate_k8s(job)
    a100 = profiles["gpu-a100-x2-ddp"]
    assert job["metadata"]["namespace"] == "ml"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == a100.workers
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(a100.gpus)
    assert container["args"][container["args"].index("--out") + 1] == PLAN["model_uri"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TRADEWIND_PROFILE"] == "cluster"
    assert env["TRADEWIND_GPU_PROFILE"] == "gpu-a100-x2-ddp"

    pod = out["train_pod"]  # the same form's profile on the single-pod task (the branch would not pick it)
    validate_k8s(pod)
    assert pod["spec"]["containers"][0]["args"][:2] == ["train", "--dataset"]


def test_a_cluster_profile_loads_the_provider_and_nothing_else_heavy(cluster_config: Path, airflow_home: Path) -> None:
    """The one documented exception to 'parse light': the provider's operators are the tasks.

    (The lake root is a file:// one here: an s3:// Asset URI brings in the Amazon provider's URI
    handler, and boto3 with it, whatever the backend.)
    """
    code = (
        "import json, runpy, sys\nrunpy.run_path(sys.argv[1])\n"
        "heavy = ['torch', 'xgboost', 'mlflow', 'evidently', 'great_expectations', 'pandas', 'sklearn', 'boto3']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    env = {**os.environ, "TRADEWIND_CONFIG_DIR": str(cluster_config), "TRADEWIND_PROFILE": "cluster"}
    env["TRADEWIND_STORAGE_ROOT"] = "file:///srv/lake"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(TRAIN_DAG)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
