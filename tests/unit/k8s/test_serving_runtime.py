"""The ServingRuntime and PodMonitor of the KServe platform, and the manifests Terraform applies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.k8s.test_inference import _FORMATS, CHAMPION_URI, _strict
from tradewind.k8s import render_platform
from tradewind.k8s.inference import DEFAULT_RUNTIME, MODEL_FORMAT, SERVING_UID, inference_service_spec
from tradewind.k8s.serving_runtime import (
    MODEL_DIR,
    RUNTIME_API_VERSION,
    SERVING_PORT,
    pod_monitor_spec,
    serving_runtime_spec,
)
from tradewind.serving.contract import METRICS_PATH, READY_PATH, REVISION_LABEL

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO / "tests" / "fixtures" / "kserve" / "servingruntime-v1alpha1.schema.json"
MANIFESTS = REPO / "terraform" / "modules" / "platform" / "manifests"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tradewind/serving:0.1.0"


@pytest.fixture(scope="module")
def validate_runtime() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(_strict(schema), format_checker=_FORMATS)

    def check(doc: dict[str, Any]) -> None:
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, errors

    return check


def test_the_runtime_validates_and_serves_the_mlflow_format_the_inference_services_name(validate_runtime) -> None:
    runtime = serving_runtime_spec(image=IMAGE, env={"LOG_LEVEL": "info"})
    validate_runtime(runtime)
    assert runtime["apiVersion"] == RUNTIME_API_VERSION == "serving.kserve.io/v1alpha1"
    isvc_model = inference_service_spec("transactions", storage_uri=CHAMPION_URI)["spec"]["predictor"]["model"]
    # The InferenceService names this runtime and a format it declares.
    assert isvc_model["runtime"] == runtime["metadata"]["name"] == DEFAULT_RUNTIME
    formats = runtime["spec"]["supportedModelFormats"]
    assert isvc_model["modelFormat"]["name"] in {f["name"] for f in formats} == {MODEL_FORMAT}
    assert runtime["spec"]["protocolVersions"] == ["v1"]
    assert runtime["spec"]["multiModel"] is False


def test_the_runtime_runs_the_server_in_single_model_mode_on_the_downloaded_folder(validate_runtime) -> None:
    (container,) = serving_runtime_spec(image=IMAGE)["spec"]["containers"]
    assert container["name"] == "kserve-container"  # the name KServe merges the predictor's model spec into
    assert container["image"] == IMAGE
    args = container["args"]
    assert args[args.index("--model-dir") + 1] == MODEL_DIR == "/mnt/models"
    assert args[args.index("--port") + 1] == str(SERVING_PORT)
    assert container["ports"] == [{"containerPort": SERVING_PORT, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": SERVING_PORT}
    assert container["securityContext"]["runAsUser"] == SERVING_UID
    assert container["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": ""}, "image"),
        ({"image": "with space:1"}, "image"),
        ({"image": IMAGE, "namespace": "Bad_NS"}, "namespace"),
        ({"image": IMAGE, "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}, "exceeds"),
        ({"image": IMAGE, "env": {"BAD NAME": "x"}}, "env"),
    ],
)
def test_bad_runtime_arguments_are_refused_naming_them(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        serving_runtime_spec(**kwargs)


def test_the_pod_monitor_labels_series_by_revision_as_the_canary_queries_them() -> None:
    monitor = pod_monitor_spec(namespace="serving")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == METRICS_PATH
    targets = {r["targetLabel"]: r["sourceLabels"] for r in endpoint["relabelings"]}
    assert targets[REVISION_LABEL] == ["__meta_kubernetes_pod_label_serving_knative_dev_revision"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["serving"]}
    with pytest.raises(ValueError, match="interval_s"):
        pod_monitor_spec(interval_s=0)


def test_the_committed_platform_manifests_are_what_the_builders_make_now(tmp_path: Path) -> None:
    assert render_platform.main([str(tmp_path)]) == 0
    rendered = sorted(p.name for p in tmp_path.iterdir())
    assert rendered == sorted(render_platform.render())
    for name in rendered:
        committed = MANIFESTS / name
        assert committed.exists(), f"{committed} is missing: run python -m tradewind.k8s.render_platform {MANIFESTS}"
        assert committed.read_text() == (tmp_path / name).read_text(), (
            f"{committed} differs from the builders: run python -m tradewind.k8s.render_platform {MANIFESTS}"
        )


def test_the_templates_become_valid_manifests_once_terraform_fills_them(validate_runtime, validate_k8s) -> None:
    filled = {
        name: yaml.safe_load(text.replace("${namespace}", "tradewind").replace("${serving_image}", IMAGE))
        for name, text in render_platform.render().items()
    }
    validate_runtime(filled["serving-runtime.yaml"])
    validate_k8s(filled["trainer-workers-service.yaml"])
    validate_k8s(filled["trainer-network-policy.yaml"])
    assert filled["pod-monitor.yaml"]["metadata"]["namespace"] == "tradewind"
