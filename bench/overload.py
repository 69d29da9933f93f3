"""Overload benchmark: the model server at 10x its measured capacity, in one run.

1. A model is trained, logged and registered as version 1 (``champion``) in a temporary SQLite
   registry (``bench/serve.py``'s set-up), and ``python -m tradewind.serving`` serves it with the
   shipped ``serving.yaml`` (admission control on, its default bound), pinned to CPU 1 while the
   client runs on CPU 0.
2. **Unloaded**: one closed-loop sender for ``--seconds``: its p99 is the latency a request sees
   when nothing else is in flight.
3. **Capacity**: as many closed-loop senders as the server admits at once (``admission``'s
   ``max_inflight_requests``, fewer when ``max_inflight_records`` holds fewer such requests) for
   ``--seconds``: the answered requests per second.
4. **Overload**: an open loop at ``--factor`` (10) x that capacity for ``--overload-seconds`` (20):
   requests start on a fixed schedule whatever the answers, as real traffic arrives. Meanwhile
   ``/healthz`` is polled every 50 ms, and the server's RSS sampled every 0.5 s.

Every request carries ``--batch`` records (default 500: at 10x its capacity in requests of fewer
records, the one-process Python client on the other core cannot send fast enough). The client
(aiohttp, cheaper per request than httpx) sends pre-encoded bodies, and reports how late it started
requests (``client_lag_p99_ms``) so a slow client shows.

Targets (exit 1 otherwise): the p99 of the admitted requests (200) within 3x the unloaded p99;
every other answer a 503 with ``Retry-After``, no other status and no connection error; the
offered rate at least ``--factor`` x capacity (else the client could not overload the server, and
the run proves nothing); the server's RSS flat over the second half of the overload (growth under
5%).

    .venv/bin/python bench/overload.py [--batch 500] [--seconds 8] [--overload-seconds 20] [--factor 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import MODEL, REPO, Server, _free_port, make_registry

P99_RATIO_TARGET = 3.0
RSS_GROWTH_TARGET = 0.05
JSON = {"Content-Type": "application/json"}


@dataclass
class Phase:
    """What one phase saw: every answer's status, latency and whether a 503 said when to retry."""

    statuses: Counter[str] = field(default_factory=Counter)
    ok_latencies: list[float] = field(default_factory=list)
    refused_latencies: list[float] = field(default_factory=list)
    missing_retry_after: int = 0
    sent: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)

    def record(self, status: str, seconds: float, retry_after: str | None) -> None:
        self.statuses[status] += 1
        if status == "200":
            self.ok_latencies.append(seconds)
        elif status == "503":
            self.refused_latencies.append(seconds)
            self.missing_retry_after += retry_after is None

    @property
    def ok_per_s(self) -> float:
        return len(self.ok_latencies) / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "elapsed_s": round(self.elapsed_s, 2),
            "sent_per_s": round(self.sent / self.elapsed_s, 1) if self.elapsed_s else None,
            "ok_per_s": round(self.ok_per_s, 1),
            "ok_p50_ms": _ms(self.ok_latencies, 50),
            "ok_p99_ms": _ms(self.ok_latencies, 99),
            "ok_max_ms": _ms(self.ok_latencies, 100),
            "refused_p50_ms": _ms(self.refused_latencies, 50),
            "refused_p99_ms": _ms(self.refused_latencies, 99),
            "missing_retry_after": self.missing_retry_after,
            "errors": self.errors[:5],
            "client_lag_p99_ms": _ms(self.lags, 99),
        }


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 2) if values else None


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, phase: Phase) -> None:
    started = time.perf_counter()
    phase.sent += 1
    try:
        async with session.post(url, data=body, headers=JSON) as response:
            text = await response.read()
            status, retry_after = str(response.status), response.headers.get("Retry-After")
        if status not in ("200", "503") and len(phase.errors) < 5:
            phase.errors.append(f"{status}: {text[:200]!r}")
    except (aiohttp.ClientError, TimeoutError) as err:
        status, retry_after = "connection error", None
        if len(phase.errors) < 5:
            phase.errors.append(f"{type(err).__name__}: {err}")
    phase.record(status, time.perf_counter() - started, retry_after)


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=aiohttp.ClientTimeout(total=30)
    )


async def closed_loop(url: str, bodies: list[bytes], senders: int, seconds: float) -> Phase:
    """``senders`` clients, each on its own connection, each sending when the last answer is in."""
    phase, deadline = Phase(), time.perf_counter() + seconds

    async def sender(offset: int) -> None:
        async with _session(1) as session:
            n = offset
            while time.perf_counter() < deadline:
                await _post(session, url, bodies[n % len(bodies)], phase)
                n += senders

    started = time.perf_counter()
    await asyncio.gather(*(sender(i) for i in range(senders)))
    phase.elapsed_s = time.perf_counter() - started
    return phase


async def open_loop(url: str, bodies: list[bytes], rate: float, seconds: float, connections: int = 256) -> Phase:
    """Requests started every ``1/rate`` s for ``seconds``, whatever the answers (``lags``: how late each started)."""
    phase, tasks = Phase(), set()
    async with _session(connections) as session:
        started = time.perf_counter()
        n, interval = 0, 1.0 / rate
        while (now := time.perf_counter()) < started + seconds:
            due = started + n * interval
            if due > now:
                await asyncio.sleep(due - now)
            phase.lags.append(max(0.0, time.perf_counter() - due))
            task = asyncio.create_task(_post(session, url, bodies[n % len(bodies)], phase))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            await asyncio.gather(*tasks)
        phase.elapsed_s = time.perf_counter() - started
    return phase


async def poll(url: str, every_s: float, stop: asyncio.Event) -> list[float]:
    """Latencies of ``GET url`` every ``every_s`` until ``stop``."""
    latencies: list[float] = []
    async with _session(1) as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                if response.status == 200:
                    latencies.append(time.perf_counter() - started)
            await asyncio.sleep(every_s)
    return latencies


async def sample_rss(pid: int, every_s: float, stop: asyncio.Event) -> list[tuple[float, float]]:
    """(seconds since start, RSS MB) of the server every ``every_s`` until ``stop``."""
    process, started, samples = psutil.Process(pid), time.perf_counter(), []
    while not stop.is_set():
        samples.append((time.perf_counter() - started, process.memory_info().rss / 2**20))
        await asyncio.sleep(every_s)
    return samples


async def overload(
    base: str, bodies: list[bytes], rate: float, seconds: float, pid: int
) -> tuple[Phase, list[float], list[tuple[float, float]]]:
    stop = asyncio.Event()
    health = asyncio.create_task(poll(f"{base}/healthz", 0.05, stop))
    rss = asyncio.create_task(sample_rss(pid, 0.5, stop))
    phase = await open_loop(f"{base}/predict", bodies, rate, seconds)
    stop.set()
    return phase, await health, await rss


def bodies_of(batch: int, count: int = 20) -> list[bytes]:
    from tradewind.serving.loadgen import sample_records
    from tradewind.settings import get_settings

    records = sample_records(get_settings().spec(MODEL), count=batch * count)
    return [json.dumps({"instances": records[i * batch : (i + 1) * batch]}).encode() for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500, help="records per request")
    parser.add_argument("--seconds", type=float, default=8.0, help="unloaded and capacity phases")
    parser.add_argument("--overload-seconds", type=float, default=20.0)
    parser.add_argument("--factor", type=float, default=10.0, help="offered load, x the measured capacity")
    args = parser.parse_args()

    from tradewind.serving.config import load_serving_config

    admission = load_serving_config().admission
    with tempfile.TemporaryDirectory(prefix="tradewind-bench-overload-") as tmp:
        root = Path(tmp)
        print("Training and registering the model ...", flush=True)
        uri = make_registry(root)
        bodies = bodies_of(args.batch)
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {0})
        gc.collect()
        gc.freeze()
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TRADEWIND_STORAGE_ROOT": f"file://{root / 'lake'}"}
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "tradewind.serving", "--model-name", MODEL, "--port", str(port)]
        with Server("tradewind", command, env, f"{url}/readyz", root / "server.log") as server:
            assert server.proc is not None
            predict = f"{url}/predict"
            asyncio.run(closed_loop(predict, bodies, 1, 2.0))  # warm-up, not counted
            unloaded = asyncio.run(closed_loop(predict, bodies, 1, args.seconds))
            at_once = min(admission.max_inflight_requests, max(1, admission.max_inflight_records // args.batch))
            capacity = asyncio.run(closed_loop(predict, bodies, at_once, args.seconds))
            rate = args.factor * capacity.ok_per_s
            print(f"capacity {capacity.ok_per_s:.1f} requests/s; overloading at {rate:.1f}/s", flush=True)
            loaded, health, rss = asyncio.run(overload(url, bodies, rate, args.overload_seconds, server.proc.pid))
            shed_total = httpx.get(f"{url}/metrics").text
        log_tail = (root / "server.log").read_text()[-1500:]

    shed_lines = [line for line in shed_total.splitlines() if line.startswith("tradewind_requests_shed_total{")]
    base_p99 = unloaded.summary()["ok_p99_ms"]
    loaded_p99 = loaded.summary()["ok_p99_ms"]
    p99_ratio = loaded_p99 / base_p99 if base_p99 and loaded_p99 else float("inf")
    other = sum(n for s, n in loaded.statuses.items() if s not in ("200", "503"))
    offered = loaded.sent / loaded.elapsed_s / capacity.ok_per_s if capacity.ok_per_s else 0.0
    half = [mb for t, mb in rss if t >= args.overload_seconds / 2]
    rss_growth = (max(half) - half[0]) / half[0] if half else float("inf")
    refused = loaded.statuses.get("503", 0)
    checks = {
        f"admitted p99 / unloaded p99 <= {P99_RATIO_TARGET:g}": p99_ratio <= P99_RATIO_TARGET,
        "every refusal a 503 with Retry-After": refused > 0 and loaded.missing_retry_after == 0,
        "no other status, no connection error": other == 0,
        f"offered >= {args.factor:g} x capacity": offered >= args.factor * 0.95,
        f"RSS growth over the second half < {RSS_GROWTH_TARGET:.0%}": rss_growth < RSS_GROWTH_TARGET,
    }
    summary = {
        "batch": args.batch,
        "admission": admission.model_dump(),
        "unloaded": unloaded.summary(),
        "capacity": capacity.summary(),
        "overload": loaded.summary(),
        "offered_x_capacity": round(offered, 2),
        "p99_ratio": round(p99_ratio, 2),
        "healthz_p50_ms": _ms(health, 50),
        "healthz_p99_ms": _ms(health, 99),
        "healthz_polls": len(health),
        "rss_mb": {"first": rss[0][1], "max": max(mb for _, mb in rss), "last": rss[-1][1]} if rss else None,
        "rss_growth_second_half": round(rss_growth, 4),
        "shed_series": shed_lines,
        # Little's law: the in-flight bound that keeps an admitted request's wait within the target.
        "suggested_max_inflight_requests": round(capacity.ok_per_s * P99_RATIO_TARGET * base_p99 / 1000, 1)
        if base_p99
        else None,
        "checks": checks,
        "load_average": os.getloadavg(),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "checks"}, indent=2, default=str))
    for name, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}")
    print(
        f"unloaded p99 {base_p99} ms, admitted p99 under {offered:.1f}x load {loaded_p99} ms (x{p99_ratio:.2f}); "
        f"{refused} refused (503), {len(loaded.ok_latencies)} answered, {other} other"
    )
    if other:
        print(log_tail)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "overload.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
