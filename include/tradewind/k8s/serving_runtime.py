"""The cluster side of serving on KServe: the ServingRuntime and the PodMonitor the canary reads.

Both are created once per cluster by the platform (``terraform/modules/platform`` applies the
files :mod:`tradewind.k8s.render_platform` writes), not by a DAG.

``serving_runtime_spec()``: a ``serving.kserve.io/v1alpha1`` ServingRuntime named
``tradewind-mlflow`` that every InferenceService of :mod:`tradewind.k8s.inference` names. It runs
the serving image (``docker/serving``: ``python -m tradewind.serving``) in its single-model mode on
the folder KServe's storage initializer fills from the predictor's ``storageUri``::

    python -m tradewind.serving --model-dir /mnt/models --host 0.0.0.0 --port 8080

The InferenceService gives each revision its model name, profile and version through the model's
env (``TRADEWIND_MODEL_NAME``, ``TRADEWIND_DATASET``, ``TRADEWIND_PROFILE``,
``TRADEWIND_MODEL_VERSION``), so one runtime serves every data set. It declares the ``mlflow``
format with ``autoSelect`` and the V1 protocol (``{"instances": [...]}``, what the local server
speaks), runs as the image's non-root user and probes ``/readyz`` (a revision takes traffic only
once its model is loaded) and ``/healthz``.

``pod_monitor_spec()``: a Prometheus Operator ``PodMonitor`` that scrapes ``/metrics`` of every
predictor pod in the serving namespace and copies the pod's Knative revision label to the series'
``revision`` label (``contract.REVISION_LABEL``). Under KServe each revision serves one version
and every series says ``variant="champion"`` (the single-model server does not know its role);
the canary's Prometheus metrics source tells champion from challenger by revision, reading which
revision is which from the InferenceService's status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradewind.k8s.inference import (
    APP_NAME,
    DEFAULT_RESOURCES,
    DEFAULT_RUNTIME,
    GROUP,
    MODEL_FORMAT,
    checked_env,
    checked_namespace,
    checked_resources,
    container_security_context,
)
from tradewind.k8s.specs import APP_LABEL, DEFAULT_NAMESPACE
from tradewind.serving.contract import HEALTH_PATH, METRICS_PATH, READY_PATH, REVISION_LABEL

__all__ = [
    "MODEL_DIR",
    "POD_MONITOR_API_VERSION",
    "RUNTIME_API_VERSION",
    "SERVING_PORT",
    "pod_monitor_spec",
    "serving_runtime_spec",
]

RUNTIME_API_VERSION = f"{GROUP}/v1alpha1"
POD_MONITOR_API_VERSION = "monitoring.coreos.com/v1"
# Where KServe's storage initializer puts the predictor's storageUri.
MODEL_DIR = "/mnt/models"
# Knative's default user port; it names the container port "user-port" in the revision's pods.
SERVING_PORT = 8080
KNATIVE_PORT_NAME = "user-port"
KNATIVE_REVISION_LABEL = "serving.knative.dev/revision"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
# The version of the MLflow model format the registered versions are logged with (MLflow 3).
MLFLOW_FORMAT_VERSION = "3"


def serving_runtime_spec(
    *,
    image: str,
    name: str = DEFAULT_RUNTIME,
    namespace: str = DEFAULT_NAMESPACE,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ServingRuntime that runs the serving image on an mlflow model folder.

    ``image``: the serving image (``<registry>/serving:<tag>``). ``resources``: the default
    requests and limits (an InferenceService's own ``resources`` take precedence). ``env``: set on
    every model server of this runtime (e.g. ``MLFLOW_TRACKING_URI`` is not needed: single-model
    mode never reads the registry).
    """
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image.strip()):
        raise ValueError(f"image must be an image reference such as registry/serving:1.0, got {image!r}")
    port = SERVING_PORT
    container: dict[str, Any] = {
        "name": "kserve-container",
        "image": image.strip(),
        "args": ["--model-dir", MODEL_DIR, "--host", "0.0.0.0", "--port", str(port)],  # noqa: S104 (in the pod)
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "resources": checked_resources(DEFAULT_RESOURCES if resources is None else resources),
        "securityContext": container_security_context(),
        "readinessProbe": {"httpGet": {"path": READY_PATH, "port": port}, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": port},
            "initialDelaySeconds": 10,
            "periodSeconds": 15,
            "failureThreshold": 4,
        },
    }
    container_env = checked_env(env)
    if container_env:
        container["env"] = container_env
    return {
        "apiVersion": RUNTIME_API_VERSION,
        "kind": "ServingRuntime",
        "metadata": {
            "name": name,
            "namespace": checked_namespace(namespace),
            "labels": {APP_LABEL: APP_NAME, **(labels or {})},
        },
        "spec": {
            "supportedModelFormats": [
                {"name": MODEL_FORMAT, "version": MLFLOW_FORMAT_VERSION, "autoSelect": True, "priority": 1}
            ],
            "protocolVersions": ["v1"],
            "multiModel": False,
            # KServe's own hint of where the model server's metrics are (its metric aggregation reads it).
            "annotations": {"prometheus.kserve.io/port": str(port), "prometheus.kserve.io/path": METRICS_PATH},
            "containers": [container],
        },
    }


def pod_monitor_spec(*, namespace: str = DEFAULT_NAMESPACE, interval_s: int = 15) -> dict[str, Any]:
    """A PodMonitor scraping every InferenceService predictor pod of ``namespace``, by revision."""
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or not 1 <= interval_s <= 300:
        raise ValueError(f"interval_s must be an integer number of seconds in 1..300, got {interval_s!r}")
    namespace = checked_namespace(namespace)
    return {
        "apiVersion": POD_MONITOR_API_VERSION,
        "kind": "PodMonitor",
        "metadata": {"name": "tradewind-serving", "namespace": namespace, "labels": {APP_LABEL: APP_NAME}},
        "spec": {
            "namespaceSelector": {"matchNames": [namespace]},
            "selector": {
                "matchLabels": {"component": "predictor"},
                "matchExpressions": [{"key": ISVC_LABEL, "operator": "Exists"}],
            },
            "podMetricsEndpoints": [
                {
                    "port": KNATIVE_PORT_NAME,
                    "path": METRICS_PATH,
                    "interval": f"{interval_s}s",
                    "relabelings": [
                        {
                            "sourceLabels": [_meta_label(KNATIVE_REVISION_LABEL)],
                            "targetLabel": REVISION_LABEL,
                            "action": "replace",
                        },
                        {"sourceLabels": [_meta_label(ISVC_LABEL)], "targetLabel": "inferenceservice"},
                    ],
                }
            ],
        },
    }


def _meta_label(label: str) -> str:
    """Prometheus' Kubernetes discovery name of a pod label (``a.b/c-d`` -> ``..._a_b_c_d``)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)
