"""Ingest + validate benchmark: wall time and peak RSS of one partition at growing sizes.

For each size N (``--rows``, default 100k, 1M, 5M; ``--quick``: 20k, 100k, 200k) a fresh child
process lands one day of the shipped ``transactions`` spec with ``rows_per_day = N`` into a temp
``file://`` lake (``tradewind.data.ingest.ingest_partition``), then validates it with the versioned
GX suite (``tradewind.validation.runner.validate_partition``: read, run the suite, write the
validated partition). The date is a Thursday (weekday volume 1.0), so the partition has exactly N rows.

Per size the child reports: ingest and validate wall time (``time.perf_counter``), the peak RSS of
the process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and, from a psutil sampler thread,
the peak RSS during each phase. Library imports (pandas, pyarrow, Great Expectations) are done
before the timers start and reported apart as ``setup``, so the growth ratios compare per-row work.
Each size runs ``--repeat`` times (default 3, each in a fresh process and a fresh lake): the table
shows the run with the median total time and the worst peak RSS of all runs.

Targets (exit 1 if any fails):

* near-linear growth: for the last step (1M -> 5M by default), (time ratio) / (row ratio) of the
  total time is between 0.7 and 1.5 (judged only when that step starts at >= 1M rows; ``--quick``
  reports it as INFO, since fixed per-call costs dominate small sizes);
* peak RSS at the largest size <= 3072 MB.

    .venv/bin/python bench/ingest_validate.py [--rows 100000,1000000,5000000 | --quick] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
OUT = REPO / "bench" / "out"
SPEC_PATH = REPO / "include" / "config" / "datasets" / "transactions.yaml"
DAY = "2026-01-08"  # a Thursday: synthetic.WEEKDAY_VOLUME[3] == 1.0, so rows == rows_per_day
DEFAULT_ROWS = (100_000, 1_000_000, 5_000_000)
QUICK_ROWS = (20_000, 100_000, 200_000)
GROWTH_BAND = (0.7, 1.5)
RSS_LIMIT_MB = 3072.0
# The growth target is judged on the last step only when it starts at this size or more (1M -> 5M by
# default): below it, fixed per-call costs (GX context and suite set-up, ~0.5 s) dominate the ratio.
GROWTH_FROM_ROWS = 1_000_000
PHASES = ("ingest", "validate", "total")


# -- child: one size in its own process -------------------------------------------------------------


class _Sampler:
    """Samples this process's RSS in a thread; ``mark(phase)`` starts a new phase."""

    def __init__(self, interval: float = 0.02) -> None:
        import threading

        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.phase = "setup"
        self.peaks: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        mb = self._proc.memory_info().rss / 2**20
        if mb > self.peaks.get(self.phase, 0.0):
            self.peaks[self.phase] = mb

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def mark(self, phase: str) -> None:
        self._sample()  # closes the previous phase with a last sample
        self.phase = phase
        self._sample()

    def stop(self) -> dict[str, float]:
        self._sample()
        self._stop.set()
        self._thread.join()
        return self.peaks


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(rows: int, lake: str) -> dict[str, Any]:
    import time

    t0 = time.perf_counter()
    sampler = _Sampler()
    import logging

    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations  # noqa: F401  (imported lazily by the runner; paid here, outside the timers)
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    from tradewind.data.ingest import ingest_partition
    from tradewind.data.spec import load_spec
    from tradewind.validation.runner import validate_partition

    spec = load_spec(
        SPEC_PATH,
        overrides={
            "source": {"options": {"rows_per_day": rows}},
            "validation": {"row_count": {"min": 1, "max": 100_000_000}},
        },
    )
    setup_s = time.perf_counter() - t0
    rss_setup = _maxrss_mb()

    sampler.mark("ingest")
    t1 = time.perf_counter()
    lineage = ingest_partition(spec, lake, DAY)
    ingest_s = time.perf_counter() - t1
    rss_after_ingest = _maxrss_mb()

    sampler.mark("validate")
    t2 = time.perf_counter()
    outcome = validate_partition(spec, lake, DAY, raw_lineage=lineage)
    validate_s = time.perf_counter() - t2
    peaks = sampler.stop()

    def size_mb(zone: str) -> float:
        base = Path(lake.removeprefix("file://")) / zone
        return sum(p.stat().st_size for p in base.rglob("*") if p.is_file()) / 2**20 if base.exists() else 0.0

    return {
        "rows": rows,
        "row_count": lineage["row_count"],
        "validated_rows": outcome.lineage.get("row_count"),
        "success": outcome.success,
        "failures": [f.line() for f in outcome.failures],
        "evaluated": outcome.evaluated,
        "setup_s": setup_s,
        "ingest_s": ingest_s,
        "validate_s": validate_s,
        "total_s": ingest_s + validate_s,
        "peak_rss_mb": _maxrss_mb(),
        "rss_after_setup_mb": rss_setup,
        "peak_rss_after_ingest_mb": rss_after_ingest,
        "sampled_peak_mb": peaks,
        "raw_mb": size_mb("raw"),
        "validated_mb": size_mb("validated"),
    }


# -- parent -------------------------------------------------------------------------------------------


def run_size(rows: int, lake_dir: Path) -> dict[str, Any]:
    lake_dir.mkdir(parents=True, exist_ok=True)
    lake = f"file://{lake_dir}"
    env = dict(os.environ, TRADEWIND_PROFILE="local", TRADEWIND_STORAGE_ROOT=lake, GX_ANALYTICS_ENABLED="False")
    proc = subprocess.run(
        [str(PYTHON), str(Path(__file__).resolve()), "--child", str(rows), lake],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("@@BENCH@@")), None)
    if proc.returncode != 0 or line is None:
        tail = proc.stderr[-4000:]
        raise SystemExit(f"{rows} rows: child failed (rc={proc.returncode})\n{proc.stdout[-2000:]}\n{tail}")
    return json.loads(line[len("@@BENCH@@") :])


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One size over repeated runs: median times (the run with the median total), worst peak RSS."""
    by_total = sorted(runs, key=lambda r: r["total_s"])
    med = dict(by_total[(len(by_total) - 1) // 2])  # lower median: a real run, not an average
    med["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    med["sampled_peak_mb"] = {k: max(r["sampled_peak_mb"].get(k, 0.0) for r in runs) for k in med["sampled_peak_mb"]}
    med["success"] = all(r["success"] for r in runs)
    med["failures"] = sorted({f for r in runs for f in r["failures"]})
    med["runs"] = [{k: r[k] for k in ("ingest_s", "validate_s", "total_s", "peak_rss_mb", "success")} for r in runs]
    return med


def parse_rows(text: str) -> list[int]:
    sizes = [int(float(t)) for t in text.replace("_", "").split(",") if t.strip()]
    if len(sizes) < 2 or sorted(sizes) != sizes:
        raise argparse.ArgumentTypeError("give at least two sizes in increasing order")
    return sizes


def main(argv: list[str] | None = None) -> int:  # noqa: C901  (the benchmark driver: options, child runs, table)
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        print("@@BENCH@@" + json.dumps(child(int(sys.argv[2]), sys.argv[3])), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=parse_rows, default=list(DEFAULT_ROWS), help="sizes, e.g. 100000,1000000,5000000")
    ap.add_argument("--quick", action="store_true", help="small sizes: 20k, 100k, 200k")
    ap.add_argument("--repeat", type=int, default=3, help="fresh runs per size (median time, worst RSS); default 3")
    ap.add_argument("--rss-limit-mb", type=float, default=RSS_LIMIT_MB, help="peak RSS target at the largest size")
    ap.add_argument("--keep", type=Path, help="write the lakes here and keep them (default: a temp dir, removed)")
    ap.add_argument("--json", type=Path, help="results file (default: bench/out/ingest_validate[-quick].json)")
    args = ap.parse_args(argv)
    sizes = list(QUICK_ROWS) if args.quick else args.rows
    out_json = args.json or OUT / ("ingest_validate-quick.json" if args.quick else "ingest_validate.json")

    base = args.keep or Path(tempfile.mkdtemp(prefix="tw-bench-lake-"))
    load_before = os.getloadavg()
    results = []
    try:
        for n in sizes:
            runs = []
            for i in range(args.repeat):
                print(f"{n:>10,} rows, run {i + 1}/{args.repeat} ...", end=" ", flush=True)
                r = run_size(n, base / f"rows={n}" / f"run={i}")
                runs.append(r)
                verdict = "passed" if r["success"] else "FAILED"
                print(
                    f"ingest {r['ingest_s']:.1f}s, validate {r['validate_s']:.1f}s, "
                    f"peak RSS {r['peak_rss_mb']:.0f} MB, validation {verdict}",
                    flush=True,
                )
                if args.keep is None:
                    shutil.rmtree(base / f"rows={n}" / f"run={i}", ignore_errors=True)
            results.append(combine(runs))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    load_after = os.getloadavg()

    for prev, cur in itertools.pairwise(results):
        row_ratio = cur["rows"] / prev["rows"]
        cur["growth"] = {
            "from_rows": prev["rows"],
            "row_ratio": row_ratio,
            **{f"{k}_per_row_ratio": (cur[f"{k}_s"] / prev[f"{k}_s"]) / row_ratio for k in PHASES},
            "rss_ratio": cur["peak_rss_mb"] / prev["peak_rss_mb"],
        }

    print()
    print(f"Ingest + validate, transactions spec, date {DAY}, a fresh process per run, {args.repeat} run(s) per size "
          "(times: the run with the median total; RSS: the worst run)")  # fmt: skip
    hdr = (
        f"{'rows':>10}  {'ingest s':>8}  {'valid. s':>8}  {'total s':>8}  {'rows/s':>9}  {'peak RSS MB':>11}  "
        f"{'ingest pk':>9}  {'valid. pk':>9}  {'x rows':>6}  {'time/row':>8}  {'ing/row':>7}  {'val/row':>7}"
    )
    print(hdr)
    for r in results:
        g = r.get("growth")
        if g:
            growth = (
                f"{g['row_ratio']:>6.1f}  {g['total_per_row_ratio']:>8.2f}  {g['ingest_per_row_ratio']:>7.2f}  "
                f"{g['validate_per_row_ratio']:>7.2f}"
            )
        else:
            growth = f"{'-':>6}  {'-':>8}  {'-':>7}  {'-':>7}"
        pk = r["sampled_peak_mb"]
        print(f"{r['rows']:>10,}  {r['ingest_s']:>8.2f}  {r['validate_s']:>8.2f}  {r['total_s']:>8.2f}  "
              f"{r['rows'] / r['total_s']:>9,.0f}  {r['peak_rss_mb']:>11.0f}  {pk.get('ingest', 0):>9.0f}  "
              f"{pk.get('validate', 0):>9.0f}  {growth}")  # fmt: skip
    print("(time/row: total-time ratio divided by row ratio against the previous size; 1.0 = linear. "
          "ingest pk / valid. pk: sampled peak RSS in each phase, MB.)")  # fmt: skip
    setup = results[-1]
    print(f"setup (imports incl. Great Expectations, outside the timers): {setup['setup_s']:.1f}s, "
          f"RSS {setup['rss_after_setup_mb']:.0f} MB; machine load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")  # fmt: skip

    checks: list[tuple[str, bool | None]] = []  # None: reported, not judged
    last = results[-1]
    g = last["growth"]
    lo, hi = GROWTH_BAND
    judged = g["from_rows"] >= GROWTH_FROM_ROWS
    checks.append((
        f"near-linear time {g['from_rows']:,} -> {last['rows']:,} rows: time/row ratio {g['total_per_row_ratio']:.2f} "
        f"in [{lo}, {hi}]" + ("" if judged else f" (not judged below {GROWTH_FROM_ROWS:,} rows: fixed costs dominate)"),
        (lo <= g["total_per_row_ratio"] <= hi) if judged else None,
    ))  # fmt: skip
    checks.append((
        f"peak RSS at {last['rows']:,} rows: {last['peak_rss_mb']:.0f} MB <= {args.rss_limit_mb:.0f} MB",
        last["peak_rss_mb"] <= args.rss_limit_mb,
    ))  # fmt: skip
    for r in results:
        ok = r["success"] and r["row_count"] == r["rows"] and r["validated_rows"] == r["rows"]
        checks.append((f"{r['rows']:,} rows landed, validated and promoted (exactly {r['rows']:,} rows)", ok))
        if r["failures"]:
            print(f"  validation failures at {r['rows']:,} rows: " + "; ".join(r["failures"]))
    print()
    for text, ok in checks:
        print(f"{'INFO' if ok is None else 'PASS' if ok else 'FAIL'}  {text}")
    passed = all(ok is not False for _, ok in checks)

    record = {
        "benchmark": "ingest_validate",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_before": load_before, "load_average_after": load_after,
        },
        "day": DAY,
        "targets": {"growth_band": GROWTH_BAND, "rss_limit_mb": args.rss_limit_mb},
        "results": results,
        "checks": [{"check": t, "passed": ok} for t, ok in checks],
        "passed": passed,
    }  # fmt: skip
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {out_json}")
    print(f"OVERALL: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
