"""Small synthetic data sets of every task, made with numpy (no data files): a spec and raw rows.

Every set has two numeric features, a categorical one and a timestamp over four days; the label is a
learnable function of the features plus noise:

* ``binary``: ``churn`` 'Yes' / 'No' (text, ``positive_class: 'Yes'``), about a third 'Yes';
* ``multiclass``: ``grade`` 'low' / 'mid' / 'high' from thresholds on a noisy score;
* ``regression``: ``price = 3 x1 - 2 x2 + colour effect + noise`` (R² of the true relation about 0.95).

:func:`fit_worker` is one worker of an XGBoost collective and :func:`ddp_worker` one rank of a torch
process group (each run in a process of its own by the distributed tests).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from tradewind.data.spec import DatasetSpec, parse_spec

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
COLOURS = ["red", "green", "blue"]
GRADES = ["low", "mid", "high"]
LABELS: dict[str, dict[str, Any]] = {
    "binary": {
        "label": "churn",
        "positive_class": "Yes",
        "column": {"type": "categorical", "categories": ["No", "Yes"], "role": "label"},
    },
    "multiclass": {
        "label": "grade",
        "column": {"type": "categorical", "categories": GRADES, "role": "label"},
    },
    "regression": {"label": "price", "column": {"type": "numeric", "role": "label"}},
}


def task_spec(task: str) -> DatasetSpec:
    """A spec of ``task`` over the synthetic columns (no label rate: the defaults of each task)."""
    shape = LABELS[task]
    extra = {"positive_class": shape["positive_class"]} if "positive_class" in shape else {}
    return parse_spec(
        {
            "name": f"synthetic_{task}",
            "schema_version": 1,
            "source": {"kind": "files", "options": {"uri": "file:///nowhere/{date}/*.csv", "format": "csv"}},
            "id": "row_id",
            "label": shape["label"],
            "timestamp": "event_time",
            "task": task,
            **extra,
            "columns": {
                "row_id": {"type": "integer", "role": "id"},
                "event_time": {"type": "timestamp", "role": "timestamp"},
                "x1": {"type": "numeric"},
                "x2": {"type": "numeric"},
                "colour": {"type": "categorical", "categories": COLOURS},
                shape["label"]: shape["column"],
            },
            "validation": {"row_count": {"min": 1, "max": 1_000_000}},
        },
        origin=f"synthetic_{task}",
    )


def task_frame(task: str, rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Raw rows of ``task_spec(task)``, in time order over four days."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    colour = rng.integers(0, len(COLOURS), size=rows)
    signal = 1.5 * x1 - x2 + np.array([0.0, 0.8, -0.8])[colour]
    frame = pd.DataFrame(
        {
            "row_id": np.arange(rows, dtype=np.int64),
            "event_time": pd.date_range(START, START + dt.timedelta(days=4), periods=rows),
            "x1": x1,
            "x2": x2,
            "colour": pd.Categorical.from_codes(colour, categories=COLOURS),
        }
    )
    noisy = signal + rng.normal(scale=0.5, size=rows)
    if task == "binary":
        frame["churn"] = np.where(noisy > 1.0, "Yes", "No")
    elif task == "multiclass":
        frame["grade"] = np.array(GRADES)[np.digitize(noisy, [-0.8, 0.8])]
    else:
        frame["price"] = 2.0 * signal + rng.normal(scale=0.5, size=rows)
    return frame


def fit_worker(task: str, rank: int, env: dict[str, Any], params: dict[str, Any], out: str) -> None:
    """One worker of an XGBoost collective: train ``task`` on its shard (through the trainer's fitter)
    and write its holdout predictions to ``out`` (``.npy``)."""
    from tradewind.data.features import build_features, labels
    from tradewind.data.split import time_split
    from tradewind.training.distributed import CollectiveEnv, xgboost_collective
    from tradewind.training.trainer import task_arguments
    from tradewind.training.xgb import fit_xgboost

    spec = task_spec(task)
    train, holdout = time_split(task_frame(task), spec)
    hold_x = build_features(holdout, spec)
    settings = CollectiveEnv(**env, task_id=rank, tracker_hosted=True)
    with xgboost_collective(settings) as group:
        fit = fit_xgboost(
            build_features(train, spec),
            labels(train, spec),
            hold_x,
            labels(holdout, spec),
            params,
            workers=group,
            **task_arguments(spec),
        )
    np.save(out, fit.backend.predict_features(hold_x))


def ddp_worker(task: str, rank: int, world_size: int, port: int, params: dict[str, Any], out: str) -> None:
    """One rank of a torch process group (gloo on 127.0.0.1:``port``, the variables torchrun sets): train
    ``task`` with DDP through the trainer's fitter and write the holdout predictions to ``out`` (``.npy``)."""
    import os

    import torch

    from tradewind.data.features import build_features, labels
    from tradewind.data.split import time_split
    from tradewind.training.distributed import LOCALHOST, ddp_group
    from tradewind.training.torch_tabular import fit_torch
    from tradewind.training.trainer import task_arguments

    torch.set_num_threads(1)
    env = {"MASTER_ADDR": LOCALHOST, "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank)}
    os.environ.update({**env, "WORLD_SIZE": str(world_size), "CUDA_VISIBLE_DEVICES": ""})
    spec = task_spec(task)
    train, holdout = time_split(task_frame(task), spec)
    hold_x = build_features(holdout, spec)
    with ddp_group() as group:
        fit = fit_torch(
            build_features(train, spec),
            labels(train, spec),
            hold_x,
            labels(holdout, spec),
            params,
            workers=group,
            **task_arguments(spec),
        )
    np.save(out, fit.backend.predict_features(hold_x))
