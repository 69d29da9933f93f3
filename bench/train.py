"""Training benchmark: trainer overhead over bare XGBoost, 2-rank vs 1-rank DDP on CPU, peak RSS.

(a) ``tradewind.training.trainer.train(..., "xgboost")`` wall time divided by a bare ``xgboost.train``
    on the same training rows (features from ``build_features``, built outside the bare timing),
    the same params, the same fixed number of rounds and the same holdout evaluation each round.
    Each repeat runs in a fresh child process; trainer and bare repeats alternate; medians are
    compared. Target: ratio <= 1.1 (exit 1 otherwise).
(b) ``python -m tradewind train --framework torch`` single-process vs ``--workers 2``
    (torchrun, gloo): wall time of the whole command and the ratio. Report only (2 cores).
(c) Peak RSS of every child (``ru_maxrss`` from ``os.wait4``: the largest single process of the
    child's tree, so for torchrun the largest rank, not the sum of the ranks).

The data is a validated lake made by the real ingest + validate code from the synthetic source.

    .venv/bin/python bench/train.py [--rows 300000] [--repeats 5] [--rounds 100,300] [--epochs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAYS = 4
FIRST_DAY = dt.date(2026, 1, 5)
TARGET = 1.1
DEFAULT_ROUNDS = 300  # the trainer's num_boost_round default (tradewind.training.xgb.LOOP_DEFAULTS)


def _dates() -> str:
    return ",".join((FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(DAYS))


def make_lake(root: str, rows: int) -> None:
    """Ingest and validate ``DAYS`` synthetic days of ``rows / DAYS`` rows each."""
    from tradewind.data.ingest import ingest_partition
    from tradewind.data.spec import load_spec
    from tradewind.validation.runner import validate_partition

    path = REPO / "include" / "config" / "datasets" / "transactions.yaml"
    spec = load_spec(path, overrides={"source": {"options": {"rows_per_day": rows // DAYS}}})
    for i in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=i)
        raw = ingest_partition(spec, root, day)
        outcome = validate_partition(spec, root, day, raw_lineage=raw)
        if not outcome.success:
            raise SystemExit(f"validation failed for {day}: {outcome.message()}")


def child(kind: str, root: str, rounds: int) -> None:
    """One timed XGBoost run (``trainer`` or ``bare``); prints {"wall_s": ...} on stdout."""
    import xgboost as xgb

    from tradewind.data.features import build_features, labels
    from tradewind.data.split import time_split
    from tradewind.data.validated import load_validated
    from tradewind.settings import get_settings
    from tradewind.training.trainer import train
    from tradewind.training.xgb import split_params

    spec = get_settings().spec("transactions")
    frame = load_validated(spec, root, _dates())
    params = {"num_boost_round": rounds, "early_stopping_rounds": 0, "nthread": 2, "device": "cpu"}
    if kind == "trainer":
        started = time.perf_counter()
        train(spec, frame, "xgboost", params)
        wall = time.perf_counter() - started
    else:
        train_rows, holdout_rows = time_split(frame, spec, 0.2)
        train_x, holdout_x = build_features(train_rows, spec), build_features(holdout_rows, spec)
        train_y, holdout_y = labels(train_rows, spec), labels(holdout_rows, spec)
        booster, _ = split_params(params)
        booster.update(scale_pos_weight=(len(train_y) - train_y.sum()) / train_y.sum(), seed=7, device="cpu")
        started = time.perf_counter()
        dtrain = xgb.QuantileDMatrix(train_x, label=train_y, enable_categorical=True)
        dholdout = xgb.QuantileDMatrix(holdout_x, label=holdout_y, enable_categorical=True, ref=dtrain)
        xgb.train(booster, dtrain, num_boost_round=rounds, evals=[(dholdout, "holdout")], verbose_eval=False)
        wall = time.perf_counter() - started
    print(json.dumps({"wall_s": wall}))


def run_child(command: list[str]) -> dict[str, Any]:
    """Run ``command``; its wall time, stdout (JSON when it is) and peak RSS in MiB."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}")
    return {"wall_s": time.perf_counter() - started, "stdout": text, "rss_mib": usage.ru_maxrss / 1024}


def bench_xgboost(root: str, rounds: int, repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"trainer": [], "bare": []}
    for i in range(repeats):
        for kind in ("trainer", "bare"):
            result = run_child([sys.executable, __file__, "--child", kind, "--root", root, "--rounds", str(rounds)])
            runs[kind].append({"wall_s": json.loads(result["stdout"])["wall_s"], "rss_mib": result["rss_mib"]})
            print(f"  xgboost {kind} repeat {i + 1}/{repeats}: {runs[kind][-1]['wall_s']:.2f}s", flush=True)
    return {kind: _summary(items) for kind, items in runs.items()}


def bench_ddp(root: str, epochs: int, out_dir: str) -> dict[str, Any]:
    base = [sys.executable, "-m", "tradewind", "train", "--framework", "torch", "--root", root]
    base += ["--dates", _dates(), "--params", json.dumps({"epochs": epochs, "patience": epochs})]
    results = {}
    for name, extra in (("1 process", []), ("2 ranks (torchrun)", ["--workers", "2"])):
        result = run_child([*base, "--out", f"{out_dir}/{len(extra)}", *extra])
        summary = json.loads(result["stdout"])
        results[name] = {
            **_summary([result]),
            "train_s": summary["elapsed_s"],
            "roc_auc": summary["metrics"]["roc_auc"],
        }
        print(f"  torch {name}: {result['wall_s']:.1f}s", flush=True)
    return results


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [i["wall_s"] for i in items]
    return {
        "median_s": median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "rss_mib": max(i["rss_mib"] for i in items),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", default=f"100,{DEFAULT_ROUNDS}", help="comma-separated round counts")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", choices=("trainer", "bare", "lake"))
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.child == "lake":
        make_lake(args.root, args.rows)
        return 0
    if args.child:
        child(args.child, args.root, int(args.rounds))
        return 0
    rounds = [int(r) for r in str(args.rounds).split(",")]
    with tempfile.TemporaryDirectory(prefix="tradewind-bench-") as tmp:
        root = f"file://{tmp}/lake"
        print(f"Making a validated lake of {args.rows} rows ({DAYS} days) ...", flush=True)
        # In a child: Linux keeps a process's peak RSS across fork+exec, so a parent that held the
        # data would lend its peak to every child measured after it.
        run_child([sys.executable, __file__, "--child", "lake", "--root", root, "--rows", str(args.rows)])
        xgb_results = {n: bench_xgboost(root, n, args.repeats) for n in rounds}
        ddp_results = bench_ddp(root, args.epochs, tmp)
    ratios = {n: r["trainer"]["median_s"] / r["bare"]["median_s"] for n, r in xgb_results.items()}
    judged = DEFAULT_ROUNDS if DEFAULT_ROUNDS in ratios else max(ratios)
    ratio = ratios[judged]
    one, two = ddp_results["1 process"], ddp_results["2 ranks (torchrun)"]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"\nrows {args.rows} (80% train), xgboost {args.rounds} rounds x {args.repeats} repeats, "
        f"torch {args.epochs} epochs"
    )
    print(f"{'run':<40}{'median s':>10}{'min s':>9}{'max s':>9}{'peak RSS MiB':>14}{'ratio':>8}")
    rows: list[tuple[str, dict[str, Any], float]] = []
    for n, result in xgb_results.items():
        rows.append((f"xgboost {n} rounds: bare xgboost.train", result["bare"], 1.0))
        rows.append((f"xgboost {n} rounds: tradewind trainer", result["trainer"], ratios[n]))
    rows.append(("torch 1 process (CLI)", one, 1.0))
    rows.append(("torch DDP 2 ranks (CLI, torchrun)", two, two["median_s"] / one["median_s"]))
    for name, row, r in rows:
        print(
            f"{name:<40}{row['median_s']:>10.2f}{row['min_s']:>9.2f}{row['max_s']:>9.2f}{row['rss_mib']:>14.0f}{r:>8.2f}"
        )
    print(
        f"torch training time inside the run: 1 process {one['train_s']:.1f}s, 2 ranks {two['train_s']:.1f}s; "
        f"holdout ROC-AUC {one['roc_auc']:.4f} vs {two['roc_auc']:.4f}"
    )
    for n, r in ratios.items():
        print(f"trainer / bare xgboost at {n} rounds = {r:.3f}")
    which = "the trainer's default" if judged == DEFAULT_ROUNDS else "the longest run,"
    print(f"at {which} {judged} rounds: {ratio:.3f} (target <= {TARGET}): {verdict}")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    document = {"xgboost": xgb_results, "ddp": ddp_results, "ratios": ratios}
    (out / "train.json").write_text(json.dumps(document, indent=2))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
