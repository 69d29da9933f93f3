"""Every environment profile loads, and every DAG's tasks render on it, with no DAG edit.

For each shipped profile (local, demo, compose, aws, gcp) a fresh interpreter parses ``dags/`` with
``TRADEWIND_PROFILE`` set (the aws and gcp profiles read Terraform outputs: the fixtures under
``tests/fixtures/terraform`` stand in for ``terraform output -json``), renders the templated fields
of every task of every DAG with a run's form defaults and a training plan, and prints what matters:
Asset URIs, the trainer pod and indexed Job the cluster profiles would send (validated against the
Kubernetes schema here), and the InferenceService the KServe target would create.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tradewind.k8s.profiles import load_gpu_profiles

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
TF_FIXTURES = REPO / "tests" / "fixtures" / "terraform"
PROFILES = ("local", "demo", "compose", "aws", "gcp")

RENDER = r"""
import json, sys
from unittest import mock
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.mappedoperator import MappedOperator
from tradewind.settings import get_settings

plan = json.loads(sys.argv[2])
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v)[-800:] for k, v in bag.import_errors.items()}, "dags": {}, "k8s": {}}
class PlanTI:
    def xcom_pull(self, task_ids=None, **_):
        return plan if task_ids == "plan" else None
for dag_id, dag in sorted(bag.dags.items()):
    params = {k: dag.params[k] for k in dag.params}
    info = {"tasks": {}, "assets": sorted(
        str(getattr(a, "uri", "")) for task in dag.tasks for a in list(task.outlets or []) if getattr(a, "uri", None))}
    for task in dag.tasks:
        if isinstance(task, MappedOperator):
            info["tasks"][task.task_id] = "mapped"
            if hasattr(task.operator_class, "stage_arguments"):  # a stage pod: one map index of it
                kwargs = {k: v for k, v in task.partial_kwargs.items() if k in ("dataset", "gpu_profile", "env",
                          "namespace", "kubernetes_conn_id", "service_account_name")}
                task = task.operator_class(task_id=task.task_id, partition={"partition_date": "2026-01-08"}, **kwargs)
            else:
                continue
        context = {"params": params, "ti": PlanTI(), "ds": "2026-01-08"}
        task.render_template_fields(context, jinja_env=dag.get_template_env())
        info["tasks"][task.task_id] = {f: repr(getattr(task, f, None))[:300] for f in task.template_fields}
        if hasattr(task, "stage_arguments"):  # validate or drift as a pod: the stage's command and arguments
            from kubernetes.client import ApiClient
            task.__dict__["hook"] = mock.Mock(is_in_cluster=False, **{
                "get_xcom_sidecar_container_image.return_value": None,
                "get_xcom_sidecar_container_resources.return_value": None,
                "get_xcom_sidecar_container_security_context.return_value": None})
            task.arguments = task.stage_arguments(context)
            out["k8s"][f"{dag_id}.{task.task_id}"] = ApiClient().sanitize_for_serialization(
                task.build_pod_request_obj(dry_run=True))
        if task.task_id in ("train_pod", "train_job"):
            from kubernetes.client import ApiClient
            task.__dict__["hook"] = mock.Mock(is_in_cluster=False)
            job = task.task_id == "train_job"
            built = task.build_job_request_obj() if job else task.build_pod_request_obj(dry_run=True)
            out["k8s"][f"{dag_id}.{task.task_id}"] = ApiClient().sanitize_for_serialization(built)
    out["dags"][dag_id] = info
settings = get_settings()
out["settings"] = {"root": settings.storage.root, "conn_id": settings.storage.conn_id,
                   "training": vars(settings.training) | {"backends": list(settings.training.backends)},
                   "serving": vars(settings.serving), "mlflow": vars(settings.mlflow)}
if settings.serving.target == "kserve":
    from tradewind.k8s.inference import inference_service_spec
    from tradewind_airflow.serving_targets import KServeTarget
    target = KServeTarget("transactions", settings.serving)
    out["k8s"]["isvc"] = inference_service_spec(target.service, storage_uri=settings.storage.root + "/mlflow/1/model",
                                                namespace=settings.serving.namespace, env=target.env, model_version="1",
                                                service_account=settings.serving.service_account)
print(json.dumps(out, default=str))
"""

PLAN = {"dates": ["2026-01-05", "2026-01-06"], "data_hash": "abc"}


def _render(profile: str, airflow_home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWIND_", "MLFLOW_"))}
    env.update({"TRADEWIND_PROFILE": profile, "AIRFLOW_HOME": str(airflow_home)})
    if (TF_FIXTURES / f"{profile}.tfoutputs.json").exists():
        env["TRADEWIND_TF_OUTPUTS"] = str(TF_FIXTURES / f"{profile}.tfoutputs.json")
    root = "s3://lake" if profile in ("compose", "aws") else "gs://lake" if profile == "gcp" else "file:///lake"
    plan = {
        **PLAN,
        "root": root,
        "model_uri": f"{root}/models/t/run/model",
        "checkpoint_uri": f"{root}/models/t/run/ck",
    }
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, str(REPO / "dags"), json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def rendered(airflow_home: Path) -> dict[str, dict[str, Any]]:
    return {profile: _render(profile, airflow_home) for profile in PROFILES}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_dag_parses_and_every_task_renders_on_the_profile(rendered, profile: str) -> None:
    out = rendered[profile]
    assert out["errors"] == {}
    assert set(out["dags"]) == set(rendered["local"]["dags"])  # the same DAGs everywhere
    assert "${tf:" not in json.dumps(out)  # every Terraform output was filled in


def test_the_cloud_profiles_move_storage_mlflow_training_and_serving(rendered) -> None:
    aws_outputs = {k: v["value"] for k, v in json.loads((TF_FIXTURES / "aws.tfoutputs.json").read_text()).items()}
    for profile, scheme in (("aws", "s3"), ("gcp", "gs")):
        out = rendered[profile]
        settings = out["settings"]
        assert settings["root"].startswith(f"{scheme}://")
        assert settings["mlflow"]["tracking_uri"] == aws_outputs["mlflow_tracking_uri"]
        assert settings["training"]["backend"] == "kubernetes"
        assert settings["serving"]["target"] == "kserve"
        assert settings["serving"]["prometheus_url"].startswith("http://")
        assets = [a for info in out["dags"].values() for a in info["assets"]]
        lake = [a for a in assets if "/raw/" in a or "/validated/" in a]  # the data zones' Assets
        assert len(lake) == 2, assets
        assert all(a.startswith(f"{scheme}://") for a in lake), assets
    for profile in ("local", "demo"):
        assert rendered[profile]["settings"]["root"].startswith("file://")
        assert rendered[profile]["k8s"] == {}  # nothing for a cluster on this machine
    assert rendered["compose"]["settings"]["root"] == "s3://lake"
    assert rendered["compose"]["settings"]["mlflow"]["tracking_uri"] == "http://mlflow:5000"


@pytest.mark.parametrize("profile", ["aws", "gcp"])
def test_cloud_profiles_render_trainer_pods_jobs_and_the_inference_service(
    rendered, profile: str, validate_k8s
) -> None:
    outputs = {k: v["value"] for k, v in json.loads((TF_FIXTURES / f"{profile}.tfoutputs.json").read_text()).items()}
    k8s = rendered[profile]["k8s"]
    pod, job = k8s["train_transactions.train_pod"], k8s["train_transactions.train_job"]
    validate_k8s(pod)
    validate_k8s(job)
    assert pod["metadata"]["namespace"] == job["metadata"]["namespace"] == outputs["training_namespace"]
    image = pod["spec"]["containers"][0]["image"]
    assert image.startswith(outputs["image_registry"] + "/trainer:"), image  # the environment's registry
    default = load_gpu_profiles()[rendered[profile]["settings"]["training"]["gpu_profile"]]
    assert pod["spec"]["nodeSelector"] == dict(default.node_selector)
    # The cloud identities Terraform binds: the trainer's and the model server's ServiceAccounts.
    assert pod["spec"]["serviceAccountName"] == outputs["trainer_service_account"]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == outputs["trainer_service_account"]
    # Validation, the drift check and batch scoring run as pods of the same stage CLI, on stages.gpu_profile.
    stages = {
        "validate_transactions.validate_partition": "validate",
        "drift_transactions.check_drift": "drift",
        "score_transactions.score_partition": "score",
    }
    for task, stage in stages.items():
        stage_pod = k8s[task]
        validate_k8s(stage_pod)
        (container,) = [c for c in stage_pod["spec"]["containers"] if c["name"] == "base"]
        assert container["command"] == ["python", "-m", "tradewind"], task
        assert container["args"][0] == stage, container["args"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["TRADEWIND_RESULT_FILE"] == "/airflow/xcom/return.json"  # the outcome comes back as XCom
        assert env["TRADEWIND_PROFILE"] == profile
        assert stage_pod["metadata"]["namespace"] == outputs["training_namespace"]
        assert stage_pod["spec"]["serviceAccountName"] == outputs["trainer_service_account"]
        assert container["image"] == f"{outputs['image_registry']}/trainer:cpu"
    validate_args = k8s["validate_transactions.validate_partition"]["spec"]["containers"][0]["args"]
    assert validate_args[validate_args.index("--date") + 1] == "2026-01-08"
    assert validate_args[-2:] == ["--reject-code", "0"]
    score_args = k8s["score_transactions.score_partition"]["spec"]["containers"][0]["args"]
    assert score_args[score_args.index("--date") + 1] == "2026-01-08"
    assert "--version" not in score_args  # the champion
    isvc = k8s["isvc"]
    assert isvc["spec"]["predictor"]["serviceAccountName"] == outputs["serving_service_account"]
    assert isvc["metadata"]["namespace"] == outputs["serving_namespace"]
    env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["model"]["env"]}
    assert env["TRADEWIND_PROFILE"] == profile
    assert env["TRADEWIND_MODEL_VERSION"] == "1"


def test_checkov_finds_no_failed_check_in_the_rendered_kubernetes_specs(rendered, tmp_path: Path) -> None:
    """What the aws and gcp profiles send to a cluster, and the platform manifests, pass checkov's Kubernetes checks.

    A check that does not fit is skipped on the object itself (``checkov.io/skip<N>`` annotations,
    each with its reason), never in a config file.
    """
    import yaml

    from tests.unit.terraform.test_modules import _checkov_binary
    from tradewind.k8s.render_platform import render

    docs = []
    for profile in ("aws", "gcp"):
        docs += [dict(doc) for doc in rendered[profile]["k8s"].values()]
    for text in render().values():
        docs.append(yaml.safe_load(text.replace("${namespace}", "tradewind").replace("${serving_image}", "r/s:1")))
    for i, doc in enumerate(docs):
        (tmp_path / f"{i:02d}-{doc['kind'].lower()}.yaml").write_text(yaml.safe_dump(doc))
    result = subprocess.run(
        [
            *(str(_checkov_binary()), "-d", str(tmp_path), "--framework", "kubernetes"),
            *("--quiet", "--compact", "--skip-download", "-o", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report["summary"]
    failed = [
        f"{f['check_id']} {f['resource']}: {f['check_name']}"
        for f in report.get("results", {}).get("failed_checks", [])
    ]
    assert summary["resource_count"] >= 4, summary
    assert summary["failed"] == 0, "\n".join(failed)
