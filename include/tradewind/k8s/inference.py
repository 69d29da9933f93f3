"""Builders of the KServe ``InferenceService`` that serves a model on Kubernetes, and its canary patches.

On a cluster the canary of ``include/config/canary.yaml`` drives KServe instead of the local
server's traffic split: ``spec.predictor.canaryTrafficPercent`` sends that share of requests to
the latest revision of the predictor and the rest to the last one rolled out. One rollout is::

    create   inference_service_spec(name, storage_uri=<champion>)          100% champion
    stage 1  start_canary_patch(<challenger>, 10)                          new revision, 10%
    stage 2  canary_percent_patch(50)                                      same revision, 50%
    promote  promote_patch()                    (canaryTrafficPercent removed: 100% latest)
    or back  rollback_patch(storage_uri=<champion>)   (0% latest, 100% previous rolled out)

The patches are JSON merge patches (RFC 7386) of the custom object: the provider's
``KubernetesHook().custom_object_client.patch_namespaced_custom_object(GROUP, VERSION, namespace,
PLURAL, name, patch)`` sends a dict body as ``application/merge-patch+json``, where ``None`` (JSON
``null``) deletes a key. :func:`rollout_state` reads the resource's ``status`` back into a
:class:`RolloutState`, so a trigger can wait until the revision is ready at the wanted percent.

Why ``modelFormat: mlflow`` with Tradewind's own runtime, not KServe's stock MLServer and not a
bare custom container:

- The registered model is an MLflow pyfunc (:mod:`tradewind.registry.pyfunc`) whose
  ``load_context`` imports ``tradewind.training.model`` to rebuild features with the same code as
  training; it is logged without ``code_paths``. The stock ``kserve-mlserver`` runtime does not
  have ``tradewind`` installed (it would fail to load the model), speaks only the V2 protocol
  (our clients and load generator send the V1 ``{"instances": [...]}`` body) and exposes none of
  the ``tradewind_*`` series of :mod:`tradewind.serving.contract` that the canary's SLO judge reads.
- A bare custom container (``predictor.containers``) would run our server, but the model location
  would hide in an environment variable, and every merge patch would have to resend the whole
  container list (merge patches replace lists), image and resources included.
- ``predictor.model`` with ``modelFormat: {name: mlflow}``, ``storageUri`` and ``runtime`` naming a
  ServingRuntime that runs the serving image (``python -m tradewind.serving`` on the model KServe's
  storage initializer downloads to ``/mnt/models``) keeps both: our server, contract and metrics,
  and the idiomatic KServe shape in which a canary is a one-field ``storageUri`` change. The
  ServingRuntime (``DEFAULT_RUNTIME``, built by :mod:`tradewind.k8s.serving_runtime`) is cluster
  setup, created once by the platform; it runs the server in its single-model mode
  (``--model-dir /mnt/models``), which serves the one version of its revision and leaves the
  split to KServe. The version a revision serves travels in the model's env
  (``TRADEWIND_MODEL_VERSION``), which every patch that changes the model resends whole.
  ``runtime=None`` lets KServe pick any runtime that declares the mlflow format.

The canary needs KServe's Serverless (Knative) deployment mode, the default: raw deployments do not
split traffic. Non-root settings sit in the model container's ``securityContext``, which KServe
copies to its ``kserve-container`` and which Knative accepts without feature flags (a pod-level
``securityContext`` needs ``kubernetes.podspec-securitycontext`` enabled in Knative).

Nothing here calls a cluster: tests validate these dicts (and every patched result) against the
InferenceService CRD schema (``tests/fixtures/kserve``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradewind.k8s.profiles import parse_quantity
from tradewind.k8s.specs import APP_LABEL, DEFAULT_NAMESPACE, dns_name, env_list

__all__ = [
    "API_VERSION",
    "DEFAULT_RUNTIME",
    "GROUP",
    "KIND",
    "MODEL_FORMAT",
    "MODEL_VERSION_ENV",
    "PLURAL",
    "VERSION",
    "RolloutState",
    "TrafficTarget",
    "apply_merge_patch",
    "canary_percent_patch",
    "inference_service_spec",
    "promote_patch",
    "rollback_patch",
    "rollout_state",
    "start_canary_patch",
]

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceService"

MODEL_FORMAT = "mlflow"
# The ServingRuntime that runs the serving image on an mlflow model (created once per cluster).
DEFAULT_RUNTIME = "tradewind-mlflow"
# The serving image's non-root user (docker/serving must create it with this uid and gid).
SERVING_UID = 10001
APP_NAME = "tradewind-serving"
MODEL_LABEL = "tradewind.io/model"
# On the predictor, so it lands on the revision and its pods: which registry version a revision serves.
MODEL_VERSION_ANNOTATION = "tradewind.io/model-version"
# The same version, in the model container's environment: the server's single-model mode reports it
# in answers, metrics and the inference log (python -m tradewind.serving --model-version).
MODEL_VERSION_ENV = "TRADEWIND_MODEL_VERSION"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
# Knative names the predictor's revisions "<name>-predictor-00001": with the 63-character label
# limit, the InferenceService name keeps room for that suffix.
NAME_MAX_LENGTH = 45

DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"cpu": "2", "memory": "2Gi"},
}

# What KServe's storage initializer cannot read: MLflow's own URIs. Resolve the registered version
# to its artifact location (``MlflowClient().get_model_version_download_uri``) first.
_MLFLOW_SCHEMES = ("models", "runs", "mlflow-artifacts")
_URI = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>\S+)$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# --------------------------------------------------------------------------------------------
# Checks (every bad input raises ValueError naming the argument)
# --------------------------------------------------------------------------------------------


def _percent(value: Any, what: str = "canary_traffic_percent") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer percent in 0..100, got {value!r}")
    if not 0 <= value <= 100:
        raise ValueError(f"{what} must be within 0..100, got {value}")
    return value


def _storage_uri(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("storage_uri must be a non-empty URI such as s3://bucket/path/to/model")
    uri = value.strip()
    scheme = uri.split(":", 1)[0].lower()
    if scheme in _MLFLOW_SCHEMES:
        raise ValueError(
            f"storage_uri {uri!r} is an MLflow URI, which KServe's storage initializer cannot read: "
            "pass the registered version's artifact location (s3://, gs://, ...) instead"
        )
    if not _URI.match(uri):
        raise ValueError(
            f"storage_uri must look like <scheme>://<location> (s3://, gs://, pvc://, https://), got {uri!r}"
        )
    return uri


def _replicas(min_replicas: Any, max_replicas: Any) -> tuple[int, int]:
    for what, value in (("min_replicas", min_replicas), ("max_replicas", max_replicas)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    if max_replicas < 1 or max_replicas < min_replicas:
        raise ValueError(f"max_replicas ({max_replicas}) must be at least 1 and at least min_replicas ({min_replicas})")
    return min_replicas, max_replicas


def checked_resources(resources: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, str]]:
    resources = DEFAULT_RESOURCES if resources is None else resources
    unknown = set(resources) - {"requests", "limits"}
    if unknown:
        raise ValueError(f"resources: only 'requests' and 'limits' are allowed, got {sorted(unknown)}")
    out: dict[str, dict[str, str]] = {}
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind, quantities in resources.items():
        out[kind], parsed[kind] = {}, {}
        for resource, quantity in quantities.items():
            text = str(quantity)
            try:
                parsed[kind][resource] = parse_quantity(text)
            except ValueError as err:
                raise ValueError(f"resources.{kind}.{resource}: {err}") from None
            out[kind][resource] = text
    for resource, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(resource)
        if limit is not None and request > limit:
            raise ValueError(
                f"resources.requests.{resource} ({out['requests'][resource]}) exceeds "
                f"resources.limits.{resource} ({out['limits'][resource]})"
            )
    return {k: v for k, v in out.items() if v}


def checked_env(env: Mapping[str, str] | None) -> list[dict[str, Any]]:
    for key in env or {}:
        if not _ENV_NAME.match(key):
            raise ValueError(f"env: {key!r} is not a valid environment variable name")
    return env_list(env)


def _model_env(env: Mapping[str, str] | None, model_version: str | None) -> list[dict[str, Any]]:
    """The model container's env: the service's own variables plus the version it serves.

    Merge patches replace lists whole, so every patch that changes the model sends this full list.
    """
    merged = dict(env or {})
    if MODEL_VERSION_ENV in merged:
        raise ValueError(f"env: {MODEL_VERSION_ENV} is set from model_version, not given directly")
    if model_version is not None:
        merged[MODEL_VERSION_ENV] = str(model_version)
    return checked_env(merged)


def checked_namespace(value: Any) -> str:
    if not isinstance(value, str) or not _DNS_LABEL.match(value):
        raise ValueError(f"namespace must be a DNS-1123 label (lowercase, digits, '-'), got {value!r}")
    return value


def _service_account(value: Any) -> str:
    # Not rewritten like the service's own name: a changed name would be another account.
    if not isinstance(value, str) or len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"service_account must be an existing ServiceAccount's name (DNS-1123), got {value!r}")
    return value


def container_security_context() -> dict[str, Any]:
    """Non-root, no privilege escalation, no capabilities, the runtime's seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": SERVING_UID,
        "runAsGroup": SERVING_UID,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# --------------------------------------------------------------------------------------------
# The resource
# --------------------------------------------------------------------------------------------


def inference_service_spec(
    name: str,
    *,
    storage_uri: str,
    namespace: str = DEFAULT_NAMESPACE,
    runtime: str | None = DEFAULT_RUNTIME,
    image: str | None = None,
    model_format_version: str | None = None,
    protocol_version: str | None = None,
    canary_traffic_percent: int | None = None,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 3,
    service_account: str | None = None,
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    model_version: str | None = None,
    deployment_mode: str | None = None,
) -> dict[str, Any]:
    """A ``serving.kserve.io/v1beta1`` InferenceService serving the MLflow model at ``storage_uri``.

    ``storage_uri``: the registered version's artifacts (``s3://``, ``gs://``, ``pvc://``...), which
    KServe's storage initializer downloads to ``/mnt/models``; an MLflow ``models:/`` URI is
    refused. ``runtime``: the ServingRuntime to use (``None``: KServe picks one declaring the
    mlflow format); ``image`` overrides that runtime's image for this service. ``resources``:
    ``{"requests": {...}, "limits": {...}}`` quantities (default ``DEFAULT_RESOURCES``).
    ``service_account``: the account whose credentials (IRSA, Workload Identity, secrets) read the
    model. ``model_version`` is recorded on the predictor (annotation ``tradewind.io/model-version``)
    for lineage. ``canary_traffic_percent`` is normally left out at creation: the first revision
    takes all traffic, and the rollout patches set it.
    """
    uri = _storage_uri(storage_uri)
    min_replicas, max_replicas = _replicas(min_replicas, max_replicas)
    model: dict[str, Any] = {"modelFormat": {"name": MODEL_FORMAT}}
    if model_format_version:
        model["modelFormat"]["version"] = str(model_format_version)
    if runtime:
        model["runtime"] = runtime
    model["storageUri"] = uri
    if image:
        model["image"] = image
    if protocol_version:
        model["protocolVersion"] = protocol_version
    model_env = _model_env(env, model_version)
    if model_env:
        model["env"] = model_env
    model["resources"] = checked_resources(resources)
    model["securityContext"] = container_security_context()

    predictor: dict[str, Any] = {"minReplicas": min_replicas, "maxReplicas": max_replicas}
    if canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = _percent(canary_traffic_percent)
    if service_account:
        predictor["serviceAccountName"] = _service_account(service_account)
    if model_version is not None:
        predictor["annotations"] = {MODEL_VERSION_ANNOTATION: str(model_version)}
    predictor["model"] = model

    isvc = dns_name(name, NAME_MAX_LENGTH)
    metadata: dict[str, Any] = {
        "name": isvc,
        "namespace": checked_namespace(namespace),
        "labels": {APP_LABEL: APP_NAME, MODEL_LABEL: dns_name(name), **(labels or {})},
    }
    if deployment_mode:
        metadata["annotations"] = {DEPLOYMENT_MODE_ANNOTATION: deployment_mode}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": {"predictor": predictor}}


# --------------------------------------------------------------------------------------------
# Rollout patches (JSON merge patches of the custom object)
# --------------------------------------------------------------------------------------------


def _predictor_patch(predictor: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"predictor": predictor}}


def start_canary_patch(
    storage_uri: str,
    percent: int,
    *,
    model_version: str | None = None,
    image: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Serve the challenger at ``storage_uri`` as a new revision taking ``percent`` of the traffic.

    The model change makes KServe create a revision; ``canaryTrafficPercent`` splits the traffic
    between it and the last revision rolled out (the champion's). With ``model_version``, the
    model's env is sent again whole (``env``, the service's variables, plus the version).
    """
    model: dict[str, Any] = {"storageUri": _storage_uri(storage_uri)}
    if image:
        model["image"] = image
    if model_version is not None:
        model["env"] = _model_env(env, model_version)
    predictor: dict[str, Any] = {"canaryTrafficPercent": _percent(percent, "percent"), "model": model}
    if model_version is not None:
        predictor["annotations"] = {MODEL_VERSION_ANNOTATION: str(model_version)}
    return _predictor_patch(predictor)


def canary_percent_patch(percent: int) -> dict[str, Any]:
    """Move the latest revision's share of the traffic to ``percent`` (no new revision)."""
    return _predictor_patch({"canaryTrafficPercent": _percent(percent, "percent")})


def promote_patch() -> dict[str, Any]:
    """Promote the latest revision: ``canaryTrafficPercent`` removed, so it takes 100% and becomes rolled out."""
    return _predictor_patch({"canaryTrafficPercent": None})


def rollback_patch(
    *, storage_uri: str | None = None, model_version: str | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Send all traffic back to the last revision rolled out (``canaryTrafficPercent: 0``).

    With ``storage_uri`` (the champion's), the spec names the champion's model again, so a later
    :func:`promote_patch` cannot put the rejected challenger back in service; KServe then creates a
    revision of the champion's model that stays at 0% until the next rollout.
    """
    predictor: dict[str, Any] = {"canaryTrafficPercent": 0}
    if storage_uri is not None:
        predictor["model"] = {"storageUri": _storage_uri(storage_uri)}
        if model_version is not None:
            predictor["model"]["env"] = _model_env(env, model_version)
    if model_version is not None:
        predictor["annotations"] = {MODEL_VERSION_ANNOTATION: str(model_version)}
    return _predictor_patch(predictor)


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as RFC 7386 says (a copy; neither argument is changed).

    What the API server does with a merge patch, for previews, logs and tests: objects merge key
    by key, ``None`` deletes a key, anything else (lists included) replaces.
    """
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------------------------
# Reading the status back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficTarget:
    revision: str | None
    percent: int
    latest: bool
    tag: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class RolloutState:
    """The predictor's rollout as the InferenceService's status reports it.

    ``latest_percent``: the traffic on the latest revision (the canary while one runs);
    ``previous_percent``: on the previous rolled-out revision (``tag: prev``). ``ready``: the
    ``Ready`` condition is ``True``; ``reason``/``message`` explain it when it is not.
    """

    ready: bool
    reason: str | None
    message: str | None
    latest_created_revision: str | None
    latest_ready_revision: str | None
    latest_rolledout_revision: str | None
    previous_rolledout_revision: str | None
    latest_percent: int
    previous_percent: int
    traffic: tuple[TrafficTarget, ...]
    conditions: Mapping[str, str]
    url: str | None = None
    observed_generation: int | None = None

    @property
    def settled(self) -> bool:
        """The newest revision is the one ready (no revision is still being created)."""
        return self.latest_created_revision is not None and self.latest_created_revision == self.latest_ready_revision

    def serving(self, percent: int, *, generation: int | None = None) -> bool:
        """Ready, settled, and the latest revision has ``percent`` of the traffic (for ``generation``, if given)."""
        if generation is not None and (self.observed_generation is None or self.observed_generation < generation):
            return False
        return self.ready and self.settled and self.latest_percent == percent


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def rollout_state(status: Mapping[str, Any] | None, component: str = "predictor") -> RolloutState:
    """A plain :class:`RolloutState` from an InferenceService's ``status`` (or the whole object).

    A resource just created has no status yet: that reads as not ready, nothing rolled out.
    """
    status = status or {}
    if "status" in status and "apiVersion" in status:  # the whole object was given
        status = status.get("status") or {}
    conditions = {str(c.get("type")): str(c.get("status")) for c in status.get("conditions") or [] if c.get("type")}
    ready_condition: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    comp = (status.get("components") or {}).get(component) or {}
    traffic = tuple(
        TrafficTarget(
            revision=t.get("revisionName"),
            percent=_int(t.get("percent")),
            latest=bool(t.get("latestRevision")),
            tag=t.get("tag"),
            url=t.get("url"),
        )
        for t in comp.get("traffic") or []
    )
    previous = comp.get("previousRolledoutRevision")
    latest_percent = sum(t.percent for t in traffic if t.latest)
    previous_percent = sum(
        t.percent for t in traffic if not t.latest and (t.tag == "prev" or (previous and t.revision == previous))
    )
    generation = status.get("observedGeneration")
    return RolloutState(
        ready=conditions.get("Ready") == "True",
        reason=ready_condition.get("reason"),
        message=ready_condition.get("message"),
        latest_created_revision=comp.get("latestCreatedRevision"),
        latest_ready_revision=comp.get("latestReadyRevision"),
        latest_rolledout_revision=comp.get("latestRolledoutRevision"),
        previous_rolledout_revision=previous,
        latest_percent=latest_percent,
        previous_percent=previous_percent,
        traffic=traffic,
        conditions=conditions,
        url=status.get("url"),
        observed_generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else None,
    )
