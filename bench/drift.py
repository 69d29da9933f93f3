"""Drift-check benchmark: ``check_drift`` against a raw Evidently call on the same frames, time and peak RSS.

For each window size N (``--rows``, default 100k and 1M; ``--quick``: 20k and 100k) a fresh child process
makes two synthetic ``transactions`` frames of N rows each, outside the timers: the reference (a normal
day) and the current window (the same day with ``covariate_shift=0.5`` switched on), each with the 9 raw
feature columns of the spec and a model ``score``, as the window reader and the reference hand them over.
Then it times one of:

* ``evidently``: the raw call, ``Dataset.from_pandas`` on both frames and ``Report([DriftedColumnsCount(...),
  ValueDrift(...) per feature, ValueDrift(score)], include_tests=True).run(current, reference)`` with the
  same per-column methods and thresholds the spec's ``drift:`` section gives (the baseline);
* ``tradewind``: ``tradewind.monitoring.drift.check_drift(reference, current, spec, config)`` with
  ``max_rows`` >= N, so both compare every row (the judged ratio: our bookkeeping, column checks, unseen
  category shares and result parsing over the same Evidently work);
* ``tradewind-default``: ``check_drift`` with the spec's settings as shipped (``max_rows`` 100k, seeded
  sampling): what a drift check costs at that size in practice. Reported, not judged.

Per run the child reports the call's wall time (``time.perf_counter``), the process's peak RSS right after
the call (``ru_maxrss``: imports and both frames included, as for the other benchmarks) and, from a psutil
sampler thread, the peak RSS during the call minus the RSS just before it (the call's own increment). Kinds
alternate within each repeat (``--repeat``, default 5, each a fresh process); the table shows medians.

Targets (exit 1 if one fails), at every size: median time of ``tradewind`` / ``evidently`` <= 1.2 and
median peak RSS of ``tradewind`` / ``evidently`` <= 1.2.

    .venv/bin/python bench/drift.py [--rows 100000,1000000 | --quick] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
OUT = REPO / "bench" / "out"
SPEC_PATH = REPO / "include" / "config" / "datasets" / "transactions.yaml"
DAY = dt.date(2026, 1, 8)  # a Thursday: rows_for_day == rows_per_day
DEFAULT_ROWS = (100_000, 1_000_000)
QUICK_ROWS = (20_000, 100_000)
KINDS = ("evidently", "tradewind", "tradewind-default")
TARGET = 1.2
MARK = "@@BENCH@@"


# -- child: one timed call in its own process ---------------------------------------------------------


class _Sampler:
    """Samples this process's RSS in a thread; ``peak`` is the largest sample since ``reset``."""

    def __init__(self, interval: float = 0.02) -> None:
        import threading

        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def rss(self) -> float:
        return self._proc.memory_info().rss / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self.rss())

    def reset(self) -> float:
        now = self.rss()
        self.peak = now
        return now

    def stop(self) -> float:
        self.peak = max(self.peak, self.rss())
        self._stop.set()
        self._thread.join()
        return self.peak


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _frames(rows: int) -> tuple[Any, Any, Any]:
    import numpy as np

    from tradewind.data.spec import load_spec
    from tradewind.data.synthetic import DriftKnobs, generate_day

    spec = load_spec(SPEC_PATH)
    columns = [*spec.feature_columns, "score"]

    def scored(frame: Any) -> Any:
        ratio = np.log1p(frame["amount"] / np.maximum(frame["customer_avg_amount_30d"], 1.0))
        logit = -6.2 + 1.35 * ratio + 0.35 * np.log1p(frame["distance_from_home_km"] / 100.0)
        frame["score"] = 1.0 / (1.0 + np.exp(-logit.to_numpy()))
        return frame[columns].copy()

    reference = scored(generate_day(DAY, seed=11, rows_per_day=rows))
    current = scored(generate_day(DAY, seed=12, rows_per_day=rows, drift=DriftKnobs(covariate_shift=0.5)))
    return spec, reference, current


def _raw_evidently(reference: Any, current: Any, spec: Any, config: Any) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    checks = config.checks(spec)
    names = [c.column for c in checks]
    definition = DataDefinition(
        numerical_columns=[c.column for c in checks if c.kind == "numerical"] + ["score"],
        categorical_columns=[c.column for c in checks if c.kind == "categorical"],
        datetime_columns=[], text_columns=[], unknown_columns=[], list_columns=[],
    )  # fmt: skip
    methods = {c.column: c.method for c in checks}
    thresholds = {c.column: c.threshold for c in checks}
    p = config.prediction

    def call() -> Any:
        cur = Dataset.from_pandas(current, data_definition=definition)
        ref = Dataset.from_pandas(reference, data_definition=definition)
        metrics = [
            DriftedColumnsCount(columns=names, per_column_method=methods, per_column_threshold=thresholds,
                                drift_share=config.drift_share),
            *(ValueDrift(column=c.column, method=c.method, threshold=c.threshold) for c in checks),
            ValueDrift(column="score", method=p.method, threshold=p.resolved_threshold),
        ]  # fmt: skip
        return Report(metrics, include_tests=True).run(cur, ref)

    return call


def child(kind: str, rows: int) -> dict[str, Any]:
    import gc
    import logging
    import time

    logging.basicConfig(level=logging.WARNING)
    sampler = _Sampler()
    import evidently.metrics  # noqa: F401  (paid here, outside the timer)
    import pandas  # noqa: F401

    from tradewind.monitoring.config import drift_config
    from tradewind.monitoring.drift import check_drift, write_report

    spec, reference, current = _frames(rows)
    shipped = drift_config(spec)
    unsampled = shipped.model_copy(update={"max_rows": max(rows, shipped.max_rows)})
    if kind == "evidently":
        raw = _raw_evidently(reference, current, spec, shipped)

        def call() -> Any:
            return raw()
    else:
        config = unsampled if kind == "tradewind" else shipped

        def call() -> Any:
            return check_drift(reference, current, spec, config)

    gc.collect()
    before = sampler.reset()
    started = time.perf_counter()
    out = call()
    wall = time.perf_counter() - started
    peak_rss = _maxrss_mb()
    call_peak = sampler.stop()
    record: dict[str, Any] = {
        "kind": kind,
        "rows": rows,
        "wall_s": wall,
        "peak_rss_mb": peak_rss,
        "rss_before_mb": before,
        "call_peak_mb": call_peak,
        "call_increment_mb": call_peak - before,
    }
    if kind == "evidently":
        record["drifted_count"] = next(
            int(m["value"]["count"]) for m in out.dict()["metrics"] if "DriftedColumnsCount" in m["config"]["type"]
        )
    else:
        record["drifted_count"] = out.drifted_count
        record["drifted_features"] = out.drifted_features
        record["sampled_rows"] = out.sampling["current"]["rows_used"]
        with tempfile.TemporaryDirectory() as tmp:  # after the measurement: reported apart
            t0 = time.perf_counter()
            write_report(out, out.snapshot, f"file://{tmp}")
            record["report_s"] = time.perf_counter() - t0
    return record


# -- parent -------------------------------------------------------------------------------------------


def run_child(kind: str, rows: int) -> dict[str, Any]:
    proc = subprocess.run(
        [str(PYTHON), str(Path(__file__).resolve()), "--child", kind, str(rows)],
        cwd=REPO, env=dict(os.environ, TRADEWIND_PROFILE="local"), capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{kind} at {rows} rows: child failed (rc={proc.returncode})\n{proc.stderr[-4000:]}")
    return json.loads(line[len(MARK) :])


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def parse_rows(text: str) -> list[int]:
    return [int(float(t)) for t in text.replace("_", "").split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(MARK + json.dumps(child(sys.argv[2], int(sys.argv[3]))), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=parse_rows, default=list(DEFAULT_ROWS), help="window sizes, e.g. 100000,1000000")
    ap.add_argument("--quick", action="store_true", help="small sizes: 20k, 100k")
    ap.add_argument("--repeat", type=int, default=5, help="fresh runs per size and kind (medians); default 5")
    ap.add_argument("--json", type=Path, help="results file (default: bench/out/drift[-quick].json)")
    args = ap.parse_args(argv)
    sizes = list(QUICK_ROWS) if args.quick else args.rows
    out_json = args.json or OUT / ("drift-quick.json" if args.quick else "drift.json")

    load_before = os.getloadavg()
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for n in sizes:
        results[n] = {k: [] for k in KINDS}
        for i in range(args.repeat):
            for kind in KINDS:  # alternate kinds, so a change in machine load hits all of them alike
                r = run_child(kind, n)
                results[n][kind].append(r)
                print(f"{n:>10,} rows, {kind:<17} run {i + 1}/{args.repeat}: {r['wall_s']:6.2f}s, "
                      f"peak RSS {r['peak_rss_mb']:6.0f} MB (call +{r['call_increment_mb']:.0f} MB), "
                      f"{r['drifted_count']} drifted", flush=True)  # fmt: skip
    load_after = os.getloadavg()

    summary: dict[int, dict[str, Any]] = {}
    for n, by_kind in results.items():
        med = {k: {key: _median(runs, key) for key in ("wall_s", "peak_rss_mb", "call_increment_mb")}
               for k, runs in by_kind.items()}  # fmt: skip
        base = med["evidently"]
        summary[n] = {
            "median": med,
            "ratios": {
                k: {
                    "time": med[k]["wall_s"] / base["wall_s"],
                    "peak_rss": med[k]["peak_rss_mb"] / base["peak_rss_mb"],
                    "call_increment": med[k]["call_increment_mb"] / max(base["call_increment_mb"], 1.0),
                }
                for k in KINDS
            },
            "drifted_count": {k: sorted({r["drifted_count"] for r in runs}) for k, runs in by_kind.items()},
            "report_s": _median(by_kind["tradewind"], "report_s"),
        }

    print()
    print(f"Drift check, transactions spec, reference and current window of N rows each (covariate_shift=0.5), "
          f"a fresh process per run, medians of {args.repeat}")  # fmt: skip
    print(f"{'rows':>10}  {'path':<19} {'time s':>7} {'x time':>7} {'peak RSS MB':>11} {'x RSS':>6} "
          f"{'call +MB':>8} {'x call':>6}  drifted")  # fmt: skip
    for n, s in summary.items():
        for k in KINDS:
            m, r = s["median"][k], s["ratios"][k]
            print(f"{n:>10,}  {k:<19} {m['wall_s']:>7.2f} {r['time']:>7.2f} {m['peak_rss_mb']:>11.0f} "
                  f"{r['peak_rss']:>6.2f} {m['call_increment_mb']:>8.0f} {r['call_increment']:>6.2f}  "
                  f"{','.join(map(str, s['drifted_count'][k]))}")  # fmt: skip
    print("(x: ratio to the raw Evidently call on the same frames; peak RSS: whole process, imports and frames "
          "included; call +MB: the call's own peak over the RSS before it; tradewind-default samples each frame "
          "to the spec's max_rows, 100k)")  # fmt: skip
    reports = ", ".join(f"{s['report_s']:.2f}s at {n:,}" for n, s in summary.items())
    print(f"write_report (HTML + JSON, apart from the timings): {reports}; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip

    checks = []
    for n, s in summary.items():
        r = s["ratios"]["tradewind"]
        counts = s["drifted_count"]
        checks += [
            (f"{n:,} rows: check_drift / raw Evidently time {r['time']:.3f} <= {TARGET}", r["time"] <= TARGET),
            (f"{n:,} rows: check_drift / raw Evidently peak RSS {r['peak_rss']:.3f} <= {TARGET}",
             r["peak_rss"] <= TARGET),
            (f"{n:,} rows: same drifted-column count as raw Evidently {counts['evidently']}",
             counts["tradewind"] == counts["evidently"]),
        ]  # fmt: skip
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    passed = all(ok for _, ok in checks)
    record = {
        "benchmark": "drift",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": load_after},
        "target": TARGET,
        "repeat": args.repeat,
        "summary": {str(n): s for n, s in summary.items()},
        "runs": {str(n): r for n, r in results.items()},
        "checks": [{"check": t, "passed": ok} for t, ok in checks],
        "passed": passed,
    }  # fmt: skip
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"benchmark": "drift", "passed": passed,
                      "ratios": {str(n): s["ratios"]["tradewind"] for n, s in summary.items()}}))  # fmt: skip
    print(f"results written to {out_json}")
    print(f"OVERALL: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
