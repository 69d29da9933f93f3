"""A load generator for model servers that speak the KServe V1 body (``{"instances": [...]}``).

One generator for every use, so figures compare: the canary's integration test and ``make demo``
send steady traffic with it, ``bench/serve.py`` measures throughput and latency with it against
this server and ``mlflow models serve``.

Two modes:

* **open loop** (``rate_per_s``): requests start on a fixed schedule whatever the answers, the
  way real traffic arrives; a slow server builds up concurrency instead of slowing the sender.
* **closed loop** (``rate_per_s=None``): ``concurrency`` senders, each on a connection of its own,
  each send the next request when the last one is answered, so the figure is the server's throughput.

Records come from the synthetic source (the data set's feature columns, as JSON), each request
one record by default. Every answer is counted by status; a connection error counts as a failure
under ``error``. A 503 with ``Retry-After`` is the server shedding load (admission control): it is
counted as ``shed``, not as a failure, and a closed-loop sender waits what the header says before its
next request, as a well-behaved client does (an open loop keeps its schedule: arrivals do not wait).
The report gives the sent/ok/shed/failed counts, the variants that answered (``X-Tradewind-Variant``),
throughput and latency percentiles (of the answered requests).

    python -m tradewind.serving.loadgen --url http://127.0.0.1:8081 --rate 50 --duration 30
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradewind.data.knobs import DriftKnobs
from tradewind.data.spec import DatasetSpec
from tradewind.serving import contract

# Bodies accepted by servers of the KServe V1 protocol other than ours (e.g. MLflow's scoring
# server takes {"instances": [...]} too, at /invocations).
PREDICT_PATHS = {"tradewind": contract.PREDICT_PATH, "mlflow": "/invocations"}


def sample_records(
    spec: DatasetSpec, count: int = 2000, day: str = "2026-01-09", drift: DriftKnobs | None = None
) -> list[dict[str, Any]]:
    """``count`` raw records of ``spec``'s data set as JSON-ready dicts: what a client sends to score one event.

    Drawn from the data set's synthetic source (deterministic for ``day``): the record's id (which
    the inference log keeps, so labels that arrive later can be joined), the key and feature
    columns, and the event's timestamp (ISO 8601; features such as the hour come from it). The
    label is left out. ``drift``: a :class:`tradewind.data.synthetic.DriftKnobs` to shift the records
    (traffic that drifted).
    """
    from tradewind.data import synthetic
    from tradewind.data.spec import ColumnRole

    if spec.source.kind != "synthetic":
        raise ValueError(f"{spec.name}: sample records come from a synthetic source, this one is '{spec.source.kind}'")
    options = spec.source.synthetic
    frame = synthetic.generate_day(
        dt.date.fromisoformat(day),
        seed=options.seed,
        rows_per_day=max(count, 100),
        customers=options.customers,
        drift=drift,
    ).head(count)
    roles = (ColumnRole.id, ColumnRole.feature, ColumnRole.key, ColumnRole.timestamp)
    keep = [c for c, s in spec.columns.items() if s.role in roles]
    records: list[dict[str, Any]] = json.loads(frame[keep].to_json(orient="records", date_format="iso"))
    return records


@dataclass
class LoadReport:
    """What one load run saw."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    shed: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_variant: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    failures: list[str] = field(default_factory=list)  # the first few, for the log

    def add(
        self, status: str, latency_s: float, variant: str | None, detail: str | None = None, shed: bool = False
    ) -> None:
        self.sent += 1
        self.by_status[status] += 1
        if shed:
            self.shed += 1
            return
        self.latencies_s.append(latency_s)
        if status.startswith("2"):
            self.ok += 1
            if variant:
                self.by_variant[variant] += 1
        else:
            self.failed += 1
            if detail and len(self.failures) < 5:
                self.failures.append(f"{status}: {detail[:200]}")

    def percentile_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_s, q) * 1000) if self.latencies_s else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "shed": self.shed,
            "by_status": dict(self.by_status),
            "by_variant": dict(self.by_variant),
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_per_s": round(self.sent / self.elapsed_s, 1) if self.elapsed_s else None,
            "p50_ms": self.percentile_ms(50),
            "p99_ms": self.percentile_ms(99),
            "failures": list(self.failures),
        }


async def run_load(  # noqa: C901  (open and closed loop share the senders, the stop conditions and the report)
    url: str,
    records: Sequence[dict[str, Any]],
    *,
    duration_s: float | None = None,
    requests: int | None = None,
    rate_per_s: float | None = None,
    concurrency: int = 8,
    batch_size: int = 1,
    flavour: str = "tradewind",
    stop: threading.Event | None = None,
    timeout_s: float = 10.0,
) -> LoadReport:
    """Send ``{"instances": [...]}`` requests to ``url`` until ``duration_s``, ``requests`` or ``stop``.

    ``rate_per_s`` set: open loop at that rate (at most ``concurrency`` x 8 in flight); unset:
    closed loop with ``concurrency`` senders.
    """
    import httpx

    if duration_s is None and requests is None and stop is None:
        raise ValueError("give duration_s, requests or stop: the load would never end")
    if not records:
        raise ValueError("no records to send")
    path = PREDICT_PATHS[flavour]
    report = LoadReport()
    started = time.perf_counter()
    deadline = started + duration_s if duration_s is not None else None
    counter = iter(range(10**12))
    limits = httpx.Limits(max_connections=concurrency * 8, max_keepalive_connections=concurrency * 8)

    def more() -> bool:
        if stop is not None and stop.is_set():
            return False
        if deadline is not None and time.perf_counter() >= deadline:
            return False
        return requests is None or report.sent + in_flight < requests

    async def one(client: httpx.AsyncClient, n: int) -> float:
        """Send request ``n``; the seconds the server asked to wait before the next one (0: none)."""
        begin = (n * batch_size) % len(records)
        body = {"instances": [records[(begin + i) % len(records)] for i in range(batch_size)]}
        t0 = time.perf_counter()
        retry_after = None
        try:
            response = await client.post(path, json=body)
            status, variant = str(response.status_code), response.headers.get(contract.VARIANT_HEADER)
            detail = None if response.status_code < 400 else response.text
            if response.status_code == 503:
                retry_after = retry_after_s(response.headers.get(contract.RETRY_AFTER_HEADER))
        except httpx.HTTPError as err:
            status, variant, detail = "error", None, f"{type(err).__name__}: {err}"
        report.add(status, time.perf_counter() - t0, variant, detail, shed=retry_after is not None)
        return retry_after or 0.0

    in_flight = 0
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout_s, limits=limits) as client:
        if rate_per_s is None:

            async def sender() -> None:
                # Each sender keeps a connection of its own, as load tools do: one pool shared by all
                # senders adds waits of its own to the latencies measured (encode/httpx#3215).
                nonlocal in_flight
                own = httpx.AsyncClient(
                    base_url=url.rstrip("/"), timeout=timeout_s, limits=httpx.Limits(max_connections=1)
                )
                async with own:
                    while more():
                        in_flight += 1
                        try:
                            wait = await one(own, next(counter))
                        finally:
                            in_flight -= 1
                        if wait:
                            await asyncio.sleep(min(wait, _remaining(deadline)))

            await asyncio.gather(*(sender() for _ in range(concurrency)))
        else:
            interval, tasks = 1.0 / rate_per_s, set()
            next_at = time.perf_counter()
            cap = asyncio.Semaphore(concurrency * 8)
            while more():
                await cap.acquire()
                in_flight += 1

                async def fire(n: int) -> None:
                    nonlocal in_flight
                    try:
                        await one(client, n)
                    finally:
                        in_flight -= 1
                        cap.release()

                task = asyncio.create_task(fire(next(counter)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if tasks:
                await asyncio.gather(*tasks)
    report.elapsed_s = time.perf_counter() - started
    return report


def retry_after_s(value: str | None) -> float | None:
    """The seconds of a ``Retry-After`` header given in seconds; None when absent or not a number."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _remaining(deadline: float | None) -> float:
    return 60.0 if deadline is None else max(0.0, deadline - time.perf_counter())


class BackgroundLoad:
    """Steady open-loop traffic in a thread, for tests and the demo: ``with BackgroundLoad(...) as load:``."""

    def __init__(self, url: str, records: Sequence[dict[str, Any]], rate_per_s: float = 20.0, **kwargs: Any) -> None:
        self.url, self.records, self.rate_per_s, self.kwargs = url, records, rate_per_s, kwargs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tradewind-load", daemon=True)
        self.report: LoadReport | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.report = asyncio.run(
                run_load(self.url, self.records, rate_per_s=self.rate_per_s, stop=self._stop, **self.kwargs)
            )
        except BaseException as err:  # handed to the caller in stop()
            self.error = err

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def stop(self) -> LoadReport:
        self._stop.set()
        self._thread.join(timeout=60)
        if self.error is not None:
            raise RuntimeError(f"the load generator failed: {self.error}") from self.error
        assert self.report is not None
        return self.report

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()


def _profile_spec(dataset: str) -> DatasetSpec:
    from tradewind.settings import get_settings  # the command line reads the profile (an entry point)

    return get_settings().spec(dataset)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Send KServe V1 predict requests and report what came back.")
    parser.add_argument("--url", default="http://127.0.0.1:8081")
    parser.add_argument("--dataset", default="transactions")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--rate", type=float, default=None, help="requests per second (default: closed loop)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--flavour", choices=sorted(PREDICT_PATHS), default="tradewind")
    args = parser.parse_args(argv)
    report = asyncio.run(
        run_load(
            args.url,
            sample_records(_profile_spec(args.dataset)),
            duration_s=args.duration,
            rate_per_s=args.rate,
            concurrency=args.concurrency,
            batch_size=args.batch_size,
            flavour=args.flavour,
        )
    )
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
