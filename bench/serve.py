"""Serving benchmark: this model server against ``mlflow models serve`` on the same model, one run.

1. A model is trained on two synthetic days (the trainer's XGBoost defaults), logged as the same
   pyfunc the promotion step logs, and registered as version 1 (``champion``) in a temporary
   SQLite registry.
2. Both servers serve that version on this machine, one at a time, each pinned to CPU 1 (with
   ``taskset``) while the load generator runs on CPU 0: ``python -m tradewind.serving`` (one
   uvicorn worker, the inference log on) and ``mlflow models serve -m models:/transactions/1
   --env-manager local -w 1``.
3. The same load generator (``tradewind.serving.loadgen``, closed loop, ``--concurrency``
   senders, KServe V1 bodies) runs ``--seconds`` against each, for each batch size (records per
   request). The order alternates between rounds (``--rounds``); the best round of each counts.
4. The router's overhead: in one process, the full predict path (``PredictionService.predict``:
   parse, route, validate, score, metrics, log) against calling the model (``predict_proba``)
   on the same one-record request, ``--calls`` times each.

Targets (exit 1 otherwise), for every batch size: at least 3x the rows per second of ``mlflow
models serve``, and a lower p99 latency.

    .venv/bin/python bench/serve.py [--batches 1,100] [--seconds 15] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
MODEL = "transactions"
TARGET_THROUGHPUT = 3.0


def make_registry(root: Path) -> str:
    """Train, log and register version 1 as champion; the tracking URI."""
    import pandas as pd

    from tradewind.data import synthetic
    from tradewind.registry.aliases import CHAMPION, move_alias
    from tradewind.registry.pyfunc import pyfunc_logger
    from tradewind.registry.store import make_client
    from tradewind.registry.tracking import log_training_run
    from tradewind.registry.versions import register_version
    from tradewind.settings import get_settings
    from tradewind.training.trainer import train

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = make_client(uri)
    spec = get_settings().spec(MODEL)
    rows = pd.concat(
        [synthetic.generate_day(dt.date(2026, 1, d), rows_per_day=10_000) for d in (5, 6)], ignore_index=True
    )
    result = train(spec, rows, "xgboost", {"nthread": 2}, data_hashes={"2026-01-05": "bench"})
    folder = root / "model"
    result.model.save(str(folder))
    run = log_training_run(
        client,
        "bench-serve",
        framework="xgboost",
        params=result.params,
        metrics=result.metrics,
        data_hashes={f"{MODEL}/2026-01-05": "bench"},
        code_revision="bench",
        model_logger=pyfunc_logger(folder, rows),
    )
    version = str(register_version(client, MODEL, run.run_id).version)
    move_alias(client, MODEL, CHAMPION, version, reason="bench", triggered_by="bench", expected_current=None)
    return uri


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pinned(command: list[str]) -> list[str]:
    return ["taskset", "-c", "1", *command] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else command


class Server:
    """One server process: started, waited for, stopped."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], health: str, log: Path) -> None:
        self.name, self.command, self.env, self.health, self.log = name, command, env, health, log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("w") as out:
            # A session of its own: `mlflow models serve` runs uvicorn as its child, which must stop with it.
            self.proc = subprocess.Popen(
                _pinned(self.command),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.health, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise SystemExit(f"{self.name} was not ready within 240s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        """Stop the server's whole process group and wait until none of it is left (terminating only
        the `mlflow` command left its uvicorn running on the port the next round starts on)."""
        assert self.proc is not None
        group = self.proc.pid  # the session leader's pid is the group id
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _signal_group(group, 0) and time.monotonic() < deadline:
            self.proc.poll()  # reap the leader once it exits
            time.sleep(0.1)
        if _signal_group(group, 0):
            _signal_group(group, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False once no process of it is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    return True


def load(url: str, flavour: str, batch: int, seconds: float, concurrency: int) -> dict[str, Any]:
    from tradewind.serving.loadgen import run_load, sample_records
    from tradewind.settings import get_settings

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    records = sample_records(get_settings().spec(MODEL), count=2000)
    # This process trained and registered the model: a full garbage collection here walks all of that
    # (up to ~0.3 s), and every request in flight would count the pause as server latency.
    gc.collect()
    gc.freeze()
    # A short warm-up (connections, first predictions), not counted.
    asyncio.run(run_load(url, records, duration_s=2, concurrency=concurrency, batch_size=batch, flavour=flavour))
    report = asyncio.run(
        run_load(url, records, duration_s=seconds, concurrency=concurrency, batch_size=batch, flavour=flavour)
    )
    out = report.to_dict()
    if report.failed:
        raise SystemExit(f"{flavour} at {url} failed {report.failed} of {report.sent} requests: {report.failures}")
    out["rows_per_s"] = round(report.ok * batch / report.elapsed_s, 1)
    return out


def router_overhead(uri: str, calls: int) -> dict[str, Any]:
    """In-process: the full predict path against the bare model on the same one-record request."""
    from tradewind.serving.app import create_app
    from tradewind.serving.config import load_serving_config
    from tradewind.serving.loadgen import sample_records
    from tradewind.settings import get_settings

    config = load_serving_config(model_name=MODEL)
    app = create_app(
        config, tracking_uri=uri, admin_token="bench", log_root=tempfile.mkdtemp(), spec=get_settings().spec(MODEL)
    )
    server = app.state.server
    server.holder.refresh()
    champion = server.holder.deployment.champion
    record = sample_records(get_settings().spec(MODEL), count=1)
    body = json.dumps({"instances": record}).encode()
    frame = champion.validator.validate(record)
    timings: dict[str, float] = {}
    for name, call in (
        ("model predict_proba", lambda: champion.model.predict_proba(frame)),
        ("predict path", lambda: server.service.predict(body, request_id="bench")),
    ):
        for _ in range(50):
            call()
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
        timings[name] = median(samples) * 1000
    if server.inference_log is not None:
        server.inference_log.close()
    ratio = timings["predict path"] / timings["model predict_proba"]
    return {"model_ms": timings["model predict_proba"], "path_ms": timings["predict path"], "ratio": ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,100", help="records per request, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    with tempfile.TemporaryDirectory(prefix="tradewind-bench-serve-") as tmp:
        root = Path(tmp)
        print("Training and registering the model ...", flush=True)
        uri = make_registry(root)
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": uri,
            "TRADEWIND_SERVING_ADMIN_TOKEN": "bench",
            "TRADEWIND_STORAGE_ROOT": f"file://{root / 'lake'}",
            # mlflow models serve starts `uvicorn` by name: the venv's bin must be on the PATH.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        ports = {"tradewind": _free_port(), "mlflow": _free_port()}
        mlflow_command = [
            str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", f"models:/{MODEL}/1",
            "--env-manager", "local", "-w", "1", "-h", "127.0.0.1", "-p", str(ports["mlflow"]),
        ]  # fmt: skip
        servers = {
            "tradewind": Server(
                "tradewind",
                [sys.executable, "-m", "tradewind.serving", "--model-name", MODEL, "--port", str(ports["tradewind"])],
                env,
                f"http://127.0.0.1:{ports['tradewind']}/readyz",
                root / "tradewind.log",
            ),
            "mlflow": Server(
                "mlflow",
                mlflow_command,
                env,
                f"http://127.0.0.1:{ports['mlflow']}/ping",
                root / "mlflow.log",
            ),
        }
        results: dict[str, dict[int, list[dict[str, Any]]]] = {name: {b: [] for b in batches} for name in servers}
        for round_ in range(args.rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for name in order:
                with servers[name]:
                    url = f"http://127.0.0.1:{ports[name]}"
                    for batch in batches:
                        got = load(url, name, batch, args.seconds, args.concurrency)
                        results[name][batch].append(got)
                        print(
                            f"  round {round_ + 1} {name:<9} batch {batch:>4}: {got['rows_per_s']:>9.1f} rows/s, "
                            f"p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms, failed {got['failed']}",
                            flush=True,
                        )
        overhead = router_overhead(uri, args.calls)

    print(f"\n{'batch':>5} {'server':<10}{'rows/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'ratio':>8}")
    verdicts = []
    summary: dict[str, Any] = {"batches": {}, "router": overhead}
    for batch in batches:
        best = {n: max(results[n][batch], key=lambda r: r["rows_per_s"]) for n in servers}
        ratio = best["tradewind"]["rows_per_s"] / best["mlflow"]["rows_per_s"]
        lower_p99 = best["tradewind"]["p99_ms"] < best["mlflow"]["p99_ms"]
        verdicts.append(ratio >= TARGET_THROUGHPUT and lower_p99)
        summary["batches"][batch] = {**best, "ratio": ratio, "lower_p99": lower_p99}
        for name in servers:
            r = best[name]
            shown = f"{ratio:.2f}" if name == "tradewind" else "1.00"
            print(
                f"{batch:>5} {name:<10}{r['rows_per_s']:>11.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                f"{r['failed']:>8}{shown:>8}"
            )
        print(
            f"      batch {batch}: throughput x{ratio:.2f} (target >= {TARGET_THROUGHPUT}), "
            f"p99 {'lower' if lower_p99 else 'NOT lower'}: {'PASS' if verdicts[-1] else 'FAIL'}"
        )
    print(
        f"router overhead (in process, one record): predict path {overhead['path_ms']:.3f} ms vs model "
        f"{overhead['model_ms']:.3f} ms = x{overhead['ratio']:.2f}"
    )
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "serve.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
