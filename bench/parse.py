"""DAG parse-time benchmark: how much each DAG file costs over an empty ``airflow.sdk`` DAG file.

Every measurement runs in a fresh interpreter (``.venv/bin/python -c ...``) that times
``runpy.run_path(<file>)`` with ``time.perf_counter``; nothing is imported before it, so the time
includes importing Airflow (which dominates) and everything the DAG file pulls in at parse time.
The baseline is a file written to a temp dir::

    from airflow.sdk import DAG
    with DAG(dag_id="empty", schedule=None):
        pass

Runs are interleaved (baseline, file 1, file 2, baseline, ...) after one warm-up round that is not
counted, and each file's median over ``--runs`` runs is divided by the baseline's median.
Target: ratio <= 1.2 for every file (exit 1 otherwise).

A separate diagnostic run per file with ``-X importtime`` reports how much of a parse is the
``airflow.sdk`` import and which other top-level modules cost the most; it is not part of the timing.

    .venv/bin/python bench/parse.py [--runs 7] [--target 1.2] [--json bench/out/parse.json]
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

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
DAGS = REPO / "dags"
OUT = REPO / "bench" / "out"
HEAVY = (
    "torch", "xgboost", "mlflow", "evidently", "great_expectations",
    "pandas", "sklearn", "kubernetes", "boto3",
)  # fmt: skip

BASELINE = 'from airflow.sdk import DAG\n\nwith DAG(dag_id="empty", schedule=None):\n    pass\n'

# Runs in the child. Nothing is imported before the timer starts except what runpy/time/sys need.
CHILD = """
import time, runpy, sys
path = sys.argv[1]
sys.stderr.write("@@START@@\\n"); sys.stderr.flush()
t0 = time.perf_counter()
runpy.run_path(path, run_name="__dag_file__")
elapsed = time.perf_counter() - t0
sys.stderr.write("@@END@@\\n"); sys.stderr.flush()
import gc, json
from airflow.sdk import DAG
heavy = sys.argv[2].split(",")
print("@@BENCH@@" + json.dumps({
    "seconds": elapsed,
    "heavy": sorted(m for m in heavy if m in sys.modules),
    "modules": len(sys.modules),
    "dags": sorted(o.dag_id for o in gc.get_objects() if isinstance(o, DAG)),
}))
"""


def child_env(airflow_home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=airflow_home,
        TRADEWIND_PROFILE="local",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    for var in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP"):
        env.pop(var, None)
    return env


def run_once(path: Path, env: dict[str, str], *extra: str) -> tuple[dict, str]:
    cmd = [str(PYTHON), *extra, "-c", CHILD, str(path), ",".join(HEAVY)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@BENCH@@")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{path}: child failed (rc={proc.returncode})\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(line[len("@@BENCH@@") :]), proc.stderr


def import_profile(path: Path, env: dict[str, str]) -> dict:
    """One ``-X importtime`` run: airflow.sdk's cumulative import time and the costliest other top-level imports."""
    result, stderr = run_once(path, env, "-X", "importtime")
    top: list[tuple[int, str]] = []
    sdk_us = 0
    lines = stderr.splitlines()
    lines = lines[lines.index("@@START@@") + 1 :] if "@@START@@" in lines else lines  # skip interpreter start-up
    lines = lines[: lines.index("@@END@@")] if "@@END@@" in lines else lines  # and the bookkeeping after the timer
    for line in lines:
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not cumulative.isdigit():
            continue
        raw_name = line.split("|")[2]
        depth = (len(raw_name) - len(raw_name.lstrip(" "))) // 2  # 1 space + 2 per nesting level
        if depth == 0:  # top-level imports only: a nested line is part of its parent's cumulative time
            top.append((int(cumulative), name))
            if name == "airflow.sdk":
                sdk_us += int(cumulative)
    total_us = sum(us for us, _ in top)
    airflow_us = sum(us for us, n in top if n.split(".")[0] == "airflow")
    others = sorted(((us, n) for us, n in top if n.split(".")[0] != "airflow"), reverse=True)[:5]
    return {
        "airflow_sdk_import_s": sdk_us / 1e6,
        "all_airflow_imports_s": airflow_us / 1e6,
        "all_imports_s": total_us / 1e6,
        "wall_s_with_importtime": result["seconds"],
        "airflow_sdk_share": (sdk_us / 1e6) / result["seconds"] if result["seconds"] else None,
        "top_other_imports": [{"module": n, "seconds": us / 1e6} for us, n in others],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per file (median is reported); default 7")
    ap.add_argument("--target", type=float, default=1.2, help="max ratio of a DAG file over the baseline")
    ap.add_argument("--json", type=Path, default=OUT / "parse.json", help="where to write the results")
    ap.add_argument("files", nargs="*", type=Path, help="DAG files (default: dags/*.py)")
    args = ap.parse_args(argv)

    files = [f.resolve() for f in args.files] or sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
    with tempfile.TemporaryDirectory(prefix="tw-parse-") as tmp:
        baseline = Path(tmp) / "empty_dag.py"
        baseline.write_text(BASELINE, encoding="utf-8")
        home = Path(tmp) / "airflow_home"
        home.mkdir()
        env = child_env(str(home))
        targets = [baseline, *files]

        print(f"warm-up round ({len(targets)} files) ...", flush=True)
        info = {p: run_once(p, env)[0] for p in targets}
        times: dict[Path, list[float]] = {p: [] for p in targets}
        for i in range(args.runs):
            for p in targets:  # interleaved, so drift in machine load hits every file alike
                times[p].append(run_once(p, env)[0]["seconds"])
            print(f"  run {i + 1}/{args.runs} done", flush=True)
        profiles = {p: import_profile(p, env) for p in targets}

    base = statistics.median(times[baseline])
    rows = []
    for p in targets:
        med = statistics.median(times[p])
        ratio = med / base
        is_base = p == baseline
        rows.append({
            "file": "<baseline: empty airflow.sdk DAG>" if is_base else str(p.relative_to(REPO)),
            "median_s": med,
            "min_s": min(times[p]),
            "max_s": max(times[p]),
            "runs_s": times[p],
            "ratio": ratio,
            "passed": True if is_base else ratio <= args.target,
            "dags": info[p]["dags"],
            "modules": info[p]["modules"],
            "heavy_modules": info[p]["heavy"],
            "import_profile": profiles[p],
        })  # fmt: skip

    width = max(len(r["file"]) for r in rows)
    print()
    print(f"DAG parse time, median of {args.runs} fresh interpreters (target: ratio <= {args.target})")
    print(f"{'file':<{width}}  {'median s':>8}  {'min s':>6}  {'max s':>6}  {'ratio':>5}  {'dags':>4}  "
          f"{'modules':>7}  {'sdk share':>9}  result")  # fmt: skip
    for r in rows:
        verdict = "-" if r["file"].startswith("<") else ("PASS" if r["passed"] else "FAIL")
        share = r["import_profile"]["airflow_sdk_share"]
        print(f"{r['file']:<{width}}  {r['median_s']:>8.3f}  {r['min_s']:>6.3f}  {r['max_s']:>6.3f}  "
              f"{r['ratio']:>5.2f}  {len(r['dags']):>4}  {r['modules']:>7}  {share:>9.0%}  {verdict}")  # fmt: skip
    print()
    print("airflow.sdk import (from a separate -X importtime run; importtime itself adds overhead):")
    for r in rows:
        prof = r["import_profile"]
        others = ", ".join(f"{o['module']} {o['seconds']:.3f}s" for o in prof["top_other_imports"]) or "none"
        print(f"  {r['file']}: airflow.sdk {prof['airflow_sdk_import_s']:.3f}s of "
              f"{prof['wall_s_with_importtime']:.3f}s ({prof['airflow_sdk_share']:.0%}; all airflow.* "
              f"{prof['all_airflow_imports_s']:.3f}s); "
              f"costliest other top-level imports: {others}")  # fmt: skip
    print()
    print(f"heavy modules checked: {', '.join(HEAVY)}")
    for r in rows:
        loaded = ", ".join(r["heavy_modules"]) or "none"
        print(f"  {r['file']}: {loaded} in sys.modules after parsing")

    failed = [r["file"] for r in rows if not r["passed"]]
    heavy_any = sorted({m for r in rows for m in r["heavy_modules"]})
    record = {
        "benchmark": "parse",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": args.runs,
        "target_ratio": args.target,
        "baseline_median_s": base,
        "results": rows,
        "heavy_modules_loaded": heavy_any,
        "passed": not failed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print()
    print(f"results written to {args.json}")
    print(f"OVERALL: {'FAIL (' + ', '.join(failed) + ')' if failed else 'PASS'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
