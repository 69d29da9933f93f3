"""Training benchmark: trainer overhead over bare XGBoost, 2-rank vs 1-rank DDP on CPU, peak RSS.

(a) ``tradewind.training.trainer.train(..., "xgboost")`` wall time divided by a bare ``xgboost.train``
    on the same training rows (features from ``build_features``, built outside the bare timing),
    the same params (objective, depth, ``nthread``, seed), the same class weighting, the same fixed
    number of rounds and the same holdout evaluation each round, for each task of ``--tasks``:
    ``binary`` (the ``transactions`` lake), ``multiclass`` (``multi:softprob``, 5 classes) and
    ``regression`` (``reg:squarederror``) on synthetic tables made here with numpy (16 numeric and
    2 categorical features, a timestamp over 4 days). Each repeat runs in a fresh child process;
    trainer and bare repeats alternate; medians are compared; both sides must reach the same best
    holdout metric (the same model). Target: ratio <= 1.1 per task (exit 1 otherwise).
(b) ``python -m tradewind train --framework torch`` single-process vs ``--workers 2``
    (torchrun, gloo): wall time of the whole command and the ratio. Report only (2 cores).
(c) Peak RSS of every child (``ru_maxrss`` from ``os.wait4``: the largest single process of the
    child's tree, so for torchrun the largest rank, not the sum of the ranks).

The binary data is a validated lake made by the real ingest + validate code from the synthetic source;
``--epochs 0`` leaves out (b).

    .venv/bin/python bench/train.py [--rows 300000] [--repeats 5] [--rounds 100,300] [--epochs 2]
        [--tasks binary,multiclass,regression] [--synthetic-rows N]
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
TASKS = ("binary", "multiclass", "regression")
# Rows of the synthetic multiclass and regression tables: a few seconds of bare training at 300 rounds
# on 2 threads (multi:softprob grows one tree per class per round).
SYNTHETIC_ROWS = {"multiclass": 40_000, "regression": 200_000}
NUMERIC = [f"x{i:02d}" for i in range(16)]
REGIONS = [f"region_{i}" for i in range(8)]  # the segment: per-segment metrics, as for transactions' countries
CHANNELS = [f"channel_{i:02d}" for i in range(20)]
CLASSES = ["a", "b", "c", "d", "e"]


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


def synthetic_spec(task: str) -> Any:
    """A ``task`` spec (multiclass or regression) over the columns of :func:`synthetic_frame`."""
    from tradewind.data.spec import parse_spec

    label = {"type": "categorical", "categories": CLASSES} if task == "multiclass" else {"type": "numeric"}
    columns: dict[str, Any] = {
        "row_id": {"type": "integer", "role": "id"},
        "event_time": {"type": "timestamp", "role": "timestamp"},
        **{name: {"type": "numeric"} for name in NUMERIC},
        "region": {"type": "categorical", "categories": REGIONS},
        "channel": {"type": "categorical", "categories": CHANNELS},
        "target": {**label, "role": "label"},
    }
    document = {
        "name": f"bench_{task}",
        "schema_version": 1,
        "source": {"kind": "files", "options": {"uri": "file:///nowhere/{date}/*.parquet", "format": "parquet"}},
        "id": "row_id",
        "label": "target",
        "timestamp": "event_time",
        "segment": "region",
        "task": task,
        "columns": columns,
        "validation": {"row_count": {"min": 1, "max": 10_000_000}},
    }
    return parse_spec(document, origin=f"bench_{task}")


def synthetic_frame(task: str, rows: int, seed: int = 11) -> Any:
    """``rows`` raw rows of :func:`synthetic_spec` (numpy, deterministic by seed), in time order over ``DAYS``
    days; the target is a non-linear function of the features plus noise (uneven classes for multiclass)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NUMERIC)))
    region, channel = rng.integers(0, len(REGIONS), rows), rng.integers(0, len(CHANNELS), rows)
    weights = rng.normal(size=len(NUMERIC))
    signal = x @ weights + 0.8 * x[:, 0] * x[:, 1] + np.sin(2 * x[:, 2])
    signal += rng.normal(scale=0.7, size=len(REGIONS))[region] + rng.normal(scale=0.5, size=len(CHANNELS))[channel]
    noisy = signal + rng.normal(scale=0.5 * signal.std(), size=rows)
    start = dt.datetime.combine(FIRST_DAY, dt.time(), tzinfo=dt.UTC)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(rows, dtype=np.int64),
            "event_time": pd.Timestamp(start) + pd.to_timedelta(np.arange(rows) * (DAYS * 86_400 / rows), unit="s"),
            **{name: x[:, i] for i, name in enumerate(NUMERIC)},
            "region": pd.Categorical.from_codes(region, categories=REGIONS),
            "channel": pd.Categorical.from_codes(channel, categories=CHANNELS),
        }
    )
    if task == "multiclass":
        cuts = np.quantile(noisy, [0.1, 0.3, 0.6, 0.85])
        frame["target"] = pd.Categorical.from_codes(np.digitize(noisy, cuts), categories=CLASSES)
    else:
        frame["target"] = noisy
    return frame


def _task_data(task: str, root: str, rows: int) -> tuple[Any, Any]:
    """(spec, raw rows) of ``task``: the validated transactions lake for binary, else a synthetic table."""
    if task == "binary":
        from tradewind.data.validated import load_validated
        from tradewind.settings import get_settings

        spec = get_settings().spec("transactions")
        return spec, load_validated(spec, root, _dates())
    return synthetic_spec(task), synthetic_frame(task, rows)


def bare_xgboost(spec: Any, frame: Any, params: dict[str, Any]) -> tuple[float, list[float]]:
    """What a user would write with XGBoost alone, given the trainer's split, features and class weighting
    (all made before the timer starts): QuantileDMatrix + ``xgboost.train`` with the holdout evaluated
    each round. Its wall time and the holdout metric's history."""
    import numpy as np
    import xgboost as xgb
    from sklearn.utils.class_weight import compute_sample_weight

    from tradewind.data.features import build_features, labels
    from tradewind.data.split import time_split
    from tradewind.training.xgb import split_params

    train_rows, holdout_rows = time_split(frame, spec, 0.2)
    train_x, holdout_x = build_features(train_rows, spec), build_features(holdout_rows, spec)
    train_y, holdout_y = labels(train_rows, spec), labels(holdout_rows, spec)
    booster, _ = split_params(params, spec.task)
    weights = None
    if spec.task == "binary":
        booster.update(scale_pos_weight=(len(train_y) - train_y.sum()) / train_y.sum())
    elif spec.task == "multiclass":
        booster.update(num_class=len(CLASSES))
        weights = np.asarray(compute_sample_weight("balanced", train_y), dtype=np.float32)
    booster.update(seed=7, device="cpu")
    evals: dict[str, Any] = {}
    started = time.perf_counter()
    dtrain = xgb.QuantileDMatrix(train_x, label=train_y, weight=weights, enable_categorical=True)
    dholdout = xgb.QuantileDMatrix(holdout_x, label=holdout_y, enable_categorical=True, ref=dtrain)
    xgb.train(
        booster,
        dtrain,
        num_boost_round=params["num_boost_round"],
        evals=[(dholdout, "holdout")],
        evals_result=evals,
        verbose_eval=False,
    )
    wall = time.perf_counter() - started
    return wall, [float(v) for v in evals["holdout"][booster["eval_metric"]]]


def child(kind: str, task: str, root: str, rounds: int, rows: int) -> None:
    """One timed XGBoost run (``trainer`` or ``bare``) of ``task``; prints {"wall_s", "best"} on stdout."""
    import tradewind.training.xgb  # noqa: F401  the library loaded before the timer, as on the bare side
    from tradewind.training.trainer import train

    spec, frame = _task_data(task, root, rows)
    params = {"num_boost_round": rounds, "early_stopping_rounds": 0, "nthread": 2, "device": "cpu"}
    if kind == "trainer":
        started = time.perf_counter()
        result = train(spec, frame, "xgboost", params)
        wall = time.perf_counter() - started
        best = float(result.training["best_score"])
    else:
        wall, history = bare_xgboost(spec, frame, params)
        best = max(history) if task == "binary" else min(history)  # aucpr up; mlogloss and rmse down
    print(json.dumps({"wall_s": wall, "best": best}))


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


def bench_xgboost(task: str, root: str, rounds: int, repeats: int, rows: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"trainer": [], "bare": []}
    best: dict[str, set[float]] = {"trainer": set(), "bare": set()}
    base = [sys.executable, __file__, "--task", task, "--root", root, "--rounds", str(rounds), "--rows", str(rows)]
    for i in range(repeats):
        for kind in ("trainer", "bare"):
            result = run_child([*base, "--child", kind])
            out = json.loads(result["stdout"])
            runs[kind].append({"wall_s": out["wall_s"], "rss_mib": result["rss_mib"]})
            best[kind].add(round(out["best"], 9))
            print(f"  {task} {rounds} rounds {kind} repeat {i + 1}/{repeats}: {out['wall_s']:.2f}s", flush=True)
    if best["trainer"] != best["bare"]:
        raise SystemExit(f"{task}: trainer and bare reached different models (best holdout metric {best})")
    return {**{kind: _summary(items) for kind, items in runs.items()}, "best_holdout_metric": best["bare"].pop()}


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


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000, help="rows of the binary transactions lake")
    parser.add_argument("--synthetic-rows", type=int, help="rows of the multiclass and regression tables")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", default=f"100,{DEFAULT_ROUNDS}", help="comma-separated round counts")
    parser.add_argument("--epochs", type=int, default=2, help="torch epochs; 0 leaves out the DDP comparison")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated, of " + ", ".join(TASKS))
    parser.add_argument("--child", choices=("trainer", "bare", "lake"))
    parser.add_argument("--task", choices=TASKS, default="binary")
    parser.add_argument("--root")
    args = parser.parse_args()
    args.task_list = [t.strip() for t in str(args.tasks).split(",") if t.strip()]
    unknown = sorted(set(args.task_list) - set(TASKS))
    if unknown or not args.task_list:
        parser.error(f"--tasks: {', '.join(unknown) or 'none given'}: choose from {', '.join(TASKS)}")
    return args


def _task_rows(task: str, args: argparse.Namespace) -> int:
    if task == "binary":
        return int(args.rows)
    return int(args.synthetic_rows or SYNTHETIC_ROWS[task])


def _print_table(xgb_results: dict[str, Any], ratios: dict[str, Any], ddp: dict[str, Any] | None) -> None:
    print(f"{'run':<52}{'median s':>10}{'min s':>9}{'max s':>9}{'peak RSS MiB':>14}{'ratio':>8}")
    rows: list[tuple[str, dict[str, Any], float]] = []
    for task, by_rounds in xgb_results.items():
        for n, result in by_rounds.items():
            rows.append((f"{task} {n} rounds: bare xgboost.train", result["bare"], 1.0))
            rows.append((f"{task} {n} rounds: tradewind trainer", result["trainer"], ratios[task][n]))
    if ddp is not None:
        one, two = ddp["1 process"], ddp["2 ranks (torchrun)"]
        rows.append(("torch 1 process (CLI)", one, 1.0))
        rows.append(("torch DDP 2 ranks (CLI, torchrun)", two, two["median_s"] / one["median_s"]))
    for name, row, r in rows:
        print(
            f"{name:<52}{row['median_s']:>10.2f}{row['min_s']:>9.2f}{row['max_s']:>9.2f}{row['rss_mib']:>14.0f}{r:>8.2f}"
        )
    if ddp is not None:
        print(
            f"torch training time inside the run: 1 process {one['train_s']:.1f}s, 2 ranks {two['train_s']:.1f}s; "
            f"holdout ROC-AUC {one['roc_auc']:.4f} vs {two['roc_auc']:.4f}"
        )


def _verdicts(ratios: dict[str, dict[int, float]]) -> bool:
    """Print each task's ratios and its verdict (at the trainer's default rounds, else the longest run)."""
    passed = True
    for task, by_rounds in ratios.items():
        judged = DEFAULT_ROUNDS if DEFAULT_ROUNDS in by_rounds else max(by_rounds)
        ok = by_rounds[judged] <= TARGET
        passed &= ok
        others = ", ".join(f"{n} rounds {r:.3f}" for n, r in by_rounds.items() if n != judged)
        print(
            f"{task}: trainer / bare xgboost at {judged} rounds = {by_rounds[judged]:.3f} "
            f"(target <= {TARGET}): {'PASS' if ok else 'FAIL'}" + (f"; {others}" if others else "")
        )
    return passed


def main() -> int:
    args = _parse()
    if args.child == "lake":
        make_lake(args.root, args.rows)
        return 0
    if args.child:
        child(args.child, args.task, args.root, int(args.rounds), int(args.rows))
        return 0
    rounds = [int(r) for r in str(args.rounds).split(",")]
    binary = "binary" in args.task_list
    with tempfile.TemporaryDirectory(prefix="tradewind-bench-") as tmp:
        root = f"file://{tmp}/lake"
        if binary:
            print(f"Making a validated lake of {args.rows} rows ({DAYS} days) ...", flush=True)
            # In a child: Linux keeps a process's peak RSS across fork+exec, so a parent that held the
            # data would lend its peak to every child measured after it.
            run_child([sys.executable, __file__, "--child", "lake", "--root", root, "--rows", str(args.rows)])
        xgb_results = {
            task: {n: bench_xgboost(task, root, n, args.repeats, _task_rows(task, args)) for n in rounds}
            for task in args.task_list
        }
        ddp = bench_ddp(root, args.epochs, tmp) if binary and args.epochs > 0 else None
    ratios = {
        task: {n: r["trainer"]["median_s"] / r["bare"]["median_s"] for n, r in by_rounds.items()}
        for task, by_rounds in xgb_results.items()
    }
    sizes = ", ".join(f"{task} {_task_rows(task, args)}" for task in args.task_list)
    print(f"\nrows: {sizes} (80% train); xgboost {args.rounds} rounds x {args.repeats} repeats, nthread 2")
    _print_table(xgb_results, ratios, ddp)
    passed = _verdicts(ratios)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    document = {"xgboost": xgb_results, "ddp": ddp, "ratios": ratios, "rows": sizes}
    (out / "train.json").write_text(json.dumps(document, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
