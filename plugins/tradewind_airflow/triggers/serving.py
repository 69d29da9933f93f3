"""Wait, in the triggerer, until a canary stage has baked: time passed and enough challenger traffic.

The trigger only waits (house rule 3): it polls the stage's metrics source (the model server's
``/metrics``, or Prometheus on KServe: :mod:`tradewind.canary.metrics_source`), and when the bake
time is over *and* the challenger has answered ``min_requests`` since the stage began, it hands
the metrics snapshot back to the operator, which judges the SLOs. No worker slot is held while a
stage bakes. Past the deadline it hands back what it saw, marked ``timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class ServingMetricsTrigger(BaseTrigger):
    """Poll ``source`` until the stage that began at ``since`` (with snapshot ``start``) has baked.

    :param source: ``MetricsSource.to_dict()``: where the per-variant series are.
    :param since: epoch seconds the stage began (a windowed source counts from there).
    :param start: ``MetricsSnapshot.to_dict()`` taken when the stage began (empty for a windowed source).
    :param min_requests: challenger requests the stage needs.
    :param bake_until: epoch seconds before which the stage is not over, whatever the traffic.
    :param deadline: epoch seconds after which the trigger gives up (``status: timeout``).
    :param poll_interval: seconds between polls.
    """

    def __init__(
        self,
        *,
        source: dict[str, Any],
        since: float,
        start: dict[str, Any],
        min_requests: int,
        bake_until: float,
        deadline: float,
        poll_interval: float = 10.0,
    ) -> None:
        super().__init__()
        self.source = source
        self.since = float(since)
        self.start = start
        self.min_requests = int(min_requests)
        self.bake_until = float(bake_until)
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "source": self.source,
                "since": self.since,
                "start": self.start,
                "min_requests": self.min_requests,
                "bake_until": self.bake_until,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import httpx

        from tradewind.canary.metrics_source import afetch, metrics_source_from_dict
        from tradewind.canary.snapshots import MetricsSnapshot, delta

        source = metrics_source_from_dict(self.source)
        start = MetricsSnapshot.from_dict(self.start)
        last: MetricsSnapshot | None = None
        served, problem = 0.0, ""
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                try:
                    last = await afetch(source, client, since=self.since, now=time.time())
                    served = delta(last, start).challenger.requests
                    problem = ""
                except (httpx.HTTPError, ValueError) as err:
                    problem = f"{type(err).__name__}: {err}"
                    self.log.warning("Polling %s failed (%s); trying again", source.describe(), problem)
                now = time.time()
                if last is not None and not problem and now >= self.bake_until and served >= self.min_requests:
                    yield TriggerEvent({"status": "ready", "snapshot": last.to_dict(), "at": now})
                    return
                if now >= self.deadline:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "snapshot": last.to_dict() if last is not None else None,
                            "challenger_requests": served,
                            "problem": problem,
                            "at": now,
                        }
                    )
                    return
                self.log.info(
                    "Stage baking: challenger %d/%d requests, %.0fs of bake time left",
                    served,
                    self.min_requests,
                    max(0.0, self.bake_until - now),
                )
                await asyncio.sleep(min(self.poll_interval, max(0.5, self.deadline - now)))
