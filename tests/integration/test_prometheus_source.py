"""The canary's KServe metrics source against a real Prometheus server scraping two revisions.

On KServe every revision serves one version, its series all say ``variant="champion"``, and
Prometheus adds the pod's revision as a label (the platform's PodMonitor). Here a real Prometheus
(Debian's ``prometheus`` package; ``.ci/run`` installs it) scrapes two endpoints that serve the
model server's own ``ServingMetrics``, labelled with two revision names the way that PodMonitor
labels pods. The source must tell the variants apart by revision, count what each did since the
stage began (PromQL ``increase``), and lead the SLO judge to the verdict the true figures give; and
the canary's trigger must bake on it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.integration.conftest import free_port, wait_until
from tests.unit.helpers import serve_metrics
from tradewind.canary.config import parse_canary_config
from tradewind.canary.metrics_source import PrometheusSource, fetch, metrics_source_from_dict
from tradewind.canary.snapshots import delta, parse_metrics
from tradewind.canary.verdict import judge_stage
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.serving.metrics import ServingMetrics

pytestmark = pytest.mark.integration

NAMESPACE = "tradewind"
REVISIONS = {CHAMPION: "tradewind-transactions-predictor-00001", CHALLENGER: "tradewind-transactions-predictor-00002"}


class Revision:
    """One revision's pod: the model server's metrics over HTTP (it always reports variant=champion)."""

    def __init__(self) -> None:
        self.metrics = ServingMetrics()
        self.server = serve_metrics(self.metrics)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, rng: np.random.Generator, requests: int, *, fail_every: int = 0, slow: float = 0.0) -> None:
        for i in range(requests):
            if fail_every and i % fail_every == 0:
                self.metrics.failed(CHAMPION)
            else:
                latency = float(rng.gamma(2.0, 0.002)) + slow
                self.metrics.scored(CHAMPION, latency, rng.beta(0.5, 20.0, size=3))

    def text(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Revision]]]:
    binary = shutil.which("prometheus")
    if binary is None:
        message = "the prometheus server is not installed (apt-get install prometheus; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    revisions = {variant: Revision() for variant in REVISIONS}
    home = tmp_path_factory.mktemp("prometheus")
    jobs = "\n".join(
        f"""      - targets: ["127.0.0.1:{revisions[variant].port}"]
        labels: {{namespace: {NAMESPACE}, revision: {name}}}"""
        for variant, name in REVISIONS.items()
    )
    (home / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tradewind-serving
    static_configs:
{jobs}
"""
    )
    port = free_port()
    log = (home / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def both_up() -> bool:
        try:
            answer = httpx.get(f"{url}/api/v1/query", params={"query": "up == 1"}, timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return len(answer.get("data", {}).get("result", [])) == 2

    try:
        wait_until(both_up, 60, "Prometheus to scrape both revisions", every=0.5)
        time.sleep(2.5)  # a few samples at zero, so increase() counts the first requests too
        yield url, revisions
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _settled(url: str, revision: Revision) -> None:
    """Wait until Prometheus holds the revision's current request count (two scrapes after the traffic)."""
    expected = parse_metrics(revision.text()).champion.requests
    query = 'tradewind_requests_total{variant="champion", revision=~".*"}'

    def seen() -> bool:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
        return any(float(r["value"][1]) == expected for r in answer["data"]["result"])

    wait_until(seen, 30, "Prometheus to scrape the traffic", every=0.5)
    time.sleep(2.2)


def test_the_source_tells_revisions_apart_and_the_judge_sees_what_the_pods_did(prometheus) -> None:
    url, revisions = prometheus
    source = PrometheusSource(url=url, revisions=REVISIONS, selector={"namespace": NAMESPACE}, scrape_interval_s=1)
    assert metrics_source_from_dict(source.to_dict()) == source  # what the trigger carries
    stage_start = time.time()
    before = {variant: parse_metrics(r.text()).champion for variant, r in revisions.items()}
    rng = np.random.default_rng(7)
    revisions[CHAMPION].serve(rng, 900)
    revisions[CHALLENGER].serve(rng, 300, fail_every=4)  # a faulty challenger: 25% of its requests fail
    for revision in revisions.values():
        _settled(url, revision)

    with httpx.Client(timeout=10) as client:
        seen = fetch(source, client, since=stage_start, now=time.time())
    truth = {variant: delta_of(parse_metrics(r.text()).champion, before[variant]) for variant, r in revisions.items()}

    for variant in (CHAMPION, CHALLENGER):
        got, want = seen.variant(variant), truth[variant]
        # increase() extrapolates to the window's edges: an estimate, the same factor on every series
        # of one scrape, so counts are close and ratios closer.
        assert got.requests == pytest.approx(want["requests"], rel=0.3), variant
        assert got.latency.count == pytest.approx(want["requests"] - want["errors"], rel=0.3), variant
    assert seen.challenger.error_rate == pytest.approx(0.25, abs=0.03)
    assert seen.champion.error_rate == 0.0
    assert seen.challenger.errors > 0  # not summed across revisions
    assert seen.champion.errors == 0

    config = parse_canary_config(
        {"stages": [10, 100], "bake_seconds": 1, "min_requests": 50, "slo": {"max_error_rate": 0.01}}
    )
    verdict = judge_stage(delta(seen, _empty()), config)
    assert verdict.failed
    assert "error rate" in verdict.summary()


def test_the_trigger_bakes_a_stage_on_prometheus(prometheus) -> None:
    from tradewind_airflow.triggers.serving import ServingMetricsTrigger

    url, revisions = prometheus
    source = PrometheusSource(url=url, revisions=REVISIONS, selector={"namespace": NAMESPACE}, scrape_interval_s=1)
    now = time.time()
    trigger = ServingMetricsTrigger(
        source=source.to_dict(),
        since=now,
        start=_empty().to_dict(),
        min_requests=200,
        bake_until=now + 1,
        deadline=now + 60,
        poll_interval=0.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("ServingMetricsTrigger")
    trigger = ServingMetricsTrigger(**kwargs)  # as the triggerer rebuilds it

    def traffic() -> None:
        rng = np.random.default_rng(11)
        for _ in range(10):
            revisions[CHAMPION].serve(rng, 60)
            revisions[CHALLENGER].serve(rng, 40)
            time.sleep(0.3)

    sender = threading.Thread(target=traffic)
    sender.start()

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    payload = asyncio.run(asyncio.wait_for(first_event(), 90))
    sender.join()
    assert payload["status"] == "ready", payload
    challenger = payload["snapshot"]["variants"][CHALLENGER]
    assert challenger["requests"] >= 200
    assert challenger["errors"] == 0


class _BadQuery(PrometheusSource):
    def expressions(self, window_s: int) -> dict[str, str]:
        return {key: "sum by (" for key in super().expressions(window_s)}


def test_prometheus_errors_are_reported_clearly(prometheus) -> None:
    url, revisions = prometheus
    with httpx.Client(timeout=10) as client:
        # Nothing matches: an empty snapshot, not an error (a revision that has not served yet).
        nothing = PrometheusSource(url=url, revisions={CHAMPION: "no-such-revision"})
        assert fetch(nothing, client, since=time.time() - 30, now=time.time()).variants == {}
        # Prometheus answers 400 with its reason; the error carries it.
        with pytest.raises(ValueError, match=r"Prometheus refused the requests query: .*parse error"):
            fetch(_BadQuery(url=url, revisions=REVISIONS), client, since=time.time() - 5, now=time.time())
        # A URL that is not Prometheus (a model server's port, say).
        not_prometheus = PrometheusSource(url=f"http://127.0.0.1:{revisions[CHAMPION].port}", revisions=REVISIONS)
        with pytest.raises(ValueError, match="not JSON"):
            fetch(not_prometheus, client, since=time.time() - 5, now=time.time())


def delta_of(after, before) -> dict[str, float]:
    return {"requests": after.requests - before.requests, "errors": after.errors - before.errors}


def _empty():
    from tradewind.canary.snapshots import MetricsSnapshot

    return MetricsSnapshot()


def test_the_source_needs_revisions_and_a_url() -> None:
    with pytest.raises(ValueError, match="revisions"):
        PrometheusSource(url="http://p:9090", revisions={})
    with pytest.raises(ValueError, match="url"):
        PrometheusSource(url="p:9090", revisions={CHAMPION: "r1"})
    with pytest.raises(ValueError, match="label name"):
        PrometheusSource(url="http://p:9090", revisions={CHAMPION: "r1"}, selector={"bad-label": "x"})
