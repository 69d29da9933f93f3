"""Where a data set's model is served, as the canary and rollback steps see it.

The environment profile's ``serving.target`` picks one; the DAGs never change:

* ``local``: the Tradewind model server (``python -m tradewind.serving``) through
  :class:`~tradewind_airflow.hooks.serving.ModelServerHook`. The server follows the registry
  aliases itself; the target makes it re-read them and sets the traffic split.
* ``kserve``: a KServe ``InferenceService``, applied and patched through the cncf-kubernetes
  provider's hook (see :class:`KServeTarget`).

Both answer the same three calls: hold these versions (``sync``), send this share of traffic to
the challenger (``set_split``), and where the per-variant metrics are (``metrics_url``).
"""

from __future__ import annotations

from typing import Protocol

from tradewind.settings import ServingSettings, get_settings
from tradewind_airflow.hooks.serving import ModelServerHook


class ServingTarget(Protocol):
    """What the canary and rollback operators need of a serving platform."""

    name: str

    def sync(self, *, champion: str | None, challenger: str | None) -> None:
        """Serve ``champion`` (and ``challenger`` beside it, when given) once this returns."""

    def set_split(self, challenger_percent: int) -> None:
        """Send ``challenger_percent`` of requests to the challenger (0: champion only)."""

    def metrics_url(self) -> str:
        """A Prometheus text endpoint with the contract's per-variant series."""


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

    def metrics_url(self) -> str:
        return self.hook.metrics_url


def serving_target(dataset: str, settings: ServingSettings | None = None) -> ServingTarget:
    """The target of the environment profile for ``dataset``'s model."""
    serving = settings or get_settings().serving
    if serving.target == "local":
        return LocalServerTarget(ModelServerHook(serving_conn_id=serving.conn_id))
    if serving.target == "kserve":
        from tradewind_airflow.kserve import KServeTarget

        return KServeTarget(dataset, serving)
    raise ValueError(f"serving.target: unknown target '{serving.target}'")
