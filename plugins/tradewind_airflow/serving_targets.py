"""Where a data set's model is served, as the canary and rollback steps see it.

The environment profile's ``serving.target`` picks one; the DAGs never change:

* ``local``: the Tradewind model server (``python -m tradewind.serving``) through
  :class:`~tradewind_airflow.hooks.serving.ModelServerHook`. The server follows the registry
  aliases itself; the target makes it re-read them and sets the traffic split.
* ``kserve``: a KServe ``InferenceService``, applied and patched through the cncf-kubernetes
  provider's hook (see :class:`KServeTarget`).

Both answer the same three calls: hold these versions (``sync``), send this share of traffic to
the challenger (``set_split``), and where the per-variant metrics are (``metrics_source``: the
server's ``/metrics``, or Prometheus by revision on KServe).
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any, Protocol

from tradewind.canary.metrics_source import MetricsSource, PrometheusSource, ScrapeSource
from tradewind.settings import ServingSettings, get_settings
from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.hooks.serving import ModelServerHook


class ServingTarget(Protocol):
    """What the canary and rollback operators need of a serving platform."""

    name: str

    def sync(self, *, champion: str | None, challenger: str | None) -> None:
        """Serve ``champion`` (and ``challenger`` beside it, when given) once this returns."""

    def set_split(self, challenger_percent: int) -> None:
        """Send ``challenger_percent`` of requests to the challenger (0: champion only)."""

    def metrics_source(self) -> MetricsSource:
        """Where the contract's per-variant series of the current split are read."""


class LocalServerTarget:
    """The Tradewind model server of the serving connection."""

    name = "local"

    def __init__(self, hook: ModelServerHook) -> None:
        self.hook = hook

    def sync(self, *, champion: str | None, challenger: str | None) -> None:
        self.hook.wait_for_versions(champion=champion, challenger=challenger)

    def set_split(self, challenger_percent: int) -> None:
        state = self.hook.set_traffic(challenger_percent)
        self.hook.log.info("Traffic: %s%% to the challenger (server answers %s)", challenger_percent, state)

    def metrics_source(self) -> MetricsSource:
        return ScrapeSource(self.hook.metrics_url)


class KServeTarget:
    """A KServe ``InferenceService`` named ``tradewind-<dataset>``, driven by merge patches.

    The registry is the source of truth: each call reads the aliases and the service, so a
    canary that resumes in another process (after a deferral) needs no memory of its own.

    * ``sync``: create the service on the champion when it does not exist; after a promotion
      (the spec already names the new champion) drop ``canaryTrafficPercent`` so its revision
      takes all traffic; otherwise point the spec at the champion.
    * ``set_split(p)``: p > 0 starts the canary (challenger's ``storageUri`` + percent: KServe makes
      a revision and splits between it and the last rolled-out one) or moves the percent; p = 0
      sends everything back to the rolled-out revision and names the champion in the spec again.
    * Every change waits until the status shows the service ready with the asked-for split.

    ``storageUri`` is the registered version's artifact location (the registry's download URI),
    which KServe's storage initializer reads; the ServingRuntime ``tradewind-mlflow`` serves it in
    the server's single-model mode, with the model name, data set, profile and version in the
    model's env. The canary's metrics come from Prometheus (``serving.prometheus_url``), per
    revision: the status says which revision is the champion's and which the challenger's.
    """

    name = "kserve"

    def __init__(self, dataset: str, serving: ServingSettings, *, timeout_s: float = 900.0) -> None:
        from tradewind.k8s.specs import dns_name

        self.dataset = dataset
        self.serving = serving
        self.service = dns_name(f"tradewind-{dataset}", 45)
        self.timeout_s = timeout_s

    @cached_property
    def objects(self) -> Any:
        """The provider's CustomObjectsApi client for the profile's Kubernetes connection."""
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.serving.kubernetes_conn_id).custom_object_client

    @cached_property
    def registry(self) -> Any:
        return MlflowRegistryHook().get_conn()

    @cached_property
    def env(self) -> dict[str, str]:
        """The model server's env on every revision (the version is added per revision)."""
        profile = get_settings().profile
        return {"TRADEWIND_MODEL_NAME": self.dataset, "TRADEWIND_DATASET": self.dataset, "TRADEWIND_PROFILE": profile}

    def metrics_source(self) -> MetricsSource:
        from tradewind.k8s.inference import rollout_state

        if not self.serving.prometheus_url:
            raise ValueError(
                f"serving.prometheus_url is not set in profile '{get_settings().profile}': the canary on KServe "
                "reads each revision's metrics from Prometheus"
            )
        state = rollout_state(self._get())
        latest = next((t.revision for t in state.traffic if t.latest and t.revision), None)
        latest = latest or state.latest_ready_revision
        previous = state.previous_rolledout_revision or next(
            (t.revision for t in state.traffic if not t.latest and t.tag == "prev" and t.revision), None
        )
        if latest is None:
            raise ValueError(f"InferenceService {self.serving.namespace}/{self.service} has no ready revision yet")
        # While a canary runs the latest revision is the challenger's and the previous rolled-out one
        # the champion's; with no canary the latest revision is the champion's.
        revisions = {"champion": latest} if previous in (None, latest) else {"champion": previous, "challenger": latest}
        return PrometheusSource(
            url=self.serving.prometheus_url, revisions=revisions, selector={"namespace": self.serving.namespace}
        )

    def _uri(self, version: str) -> str:
        return str(self.registry.get_model_version_download_uri(self.dataset, version))

    def _args(self) -> tuple[str, str, str, str]:
        from tradewind.k8s import inference

        return inference.GROUP, inference.VERSION, self.serving.namespace, inference.PLURAL

    def _get(self) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return dict(self.objects.get_namespaced_custom_object(*self._args(), self.service))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def _patch(self, body: dict[str, Any], percent: int) -> None:
        result = self.objects.patch_namespaced_custom_object(*self._args(), self.service, body)
        self._wait(percent, int((result or {}).get("metadata", {}).get("generation") or 0) or None)

    def _wait(self, percent: int, generation: int | None) -> None:
        from tradewind.k8s.inference import rollout_state

        deadline = time.monotonic() + self.timeout_s
        state = None
        while time.monotonic() < deadline:
            state = rollout_state(self._get())
            if state.serving(percent, generation=generation):
                return
            time.sleep(5.0)
        raise TimeoutError(
            f"InferenceService {self.serving.namespace}/{self.service} did not serve {percent}% on its latest "
            f"revision within {self.timeout_s:.0f}s: {state}"
        )

    @staticmethod
    def _spec_uri(obj: dict[str, Any]) -> str | None:
        return obj.get("spec", {}).get("predictor", {}).get("model", {}).get("storageUri")

    def sync(self, *, champion: str | None, challenger: str | None) -> None:
        from tradewind.k8s import inference

        if champion is None:
            raise ValueError(f"{self.dataset}: no champion to serve")
        uri = self._uri(champion)
        obj = self._get()
        if obj is None:
            body = inference.inference_service_spec(
                self.service,
                storage_uri=uri,
                namespace=self.serving.namespace,
                model_version=champion,
                env=self.env,
                service_account=self.serving.service_account,
            )
            self.objects.create_namespaced_custom_object(*self._args()[:3], inference.PLURAL, body)
            self._wait(100, None)
        elif self._spec_uri(obj) == uri:
            self._patch(inference.promote_patch(), 100)  # the champion's revision takes all traffic
        else:
            self._patch(inference.rollback_patch(storage_uri=uri, model_version=champion, env=self.env), 0)

    def set_split(self, challenger_percent: int) -> None:
        from tradewind.k8s import inference
        from tradewind.registry.aliases import CHALLENGER, CHAMPION, current

        obj = self._get() or {}
        if challenger_percent == 0:
            champion = current(self.registry, self.dataset, CHAMPION)
            uri = self._uri(champion) if champion else None
            self._patch(inference.rollback_patch(storage_uri=uri, model_version=champion, env=self.env), 0)
            return
        challenger = current(self.registry, self.dataset, CHALLENGER)
        if challenger is None:
            raise ValueError(f"{self.dataset}: no challenger to send {challenger_percent}% of the traffic to")
        uri = self._uri(challenger)
        if self._spec_uri(obj) != uri:
            patch = inference.start_canary_patch(uri, challenger_percent, model_version=challenger, env=self.env)
        else:
            patch = inference.canary_percent_patch(challenger_percent)
        self._patch(patch, challenger_percent)


def serving_target(dataset: str, settings: ServingSettings | None = None) -> ServingTarget:
    """The target of the environment profile for ``dataset``'s model."""
    serving = settings or get_settings().serving
    if serving.target == "local":
        return LocalServerTarget(ModelServerHook(serving_conn_id=serving.conn_id))
    if serving.target == "kserve":
        return KServeTarget(dataset, serving)
    raise ValueError(f"serving.target: unknown target '{serving.target}'")
