"""Fixtures of the training tests: a small synthetic frame, a small validated lake, trained models.

Sizes are chosen so the whole training suite stays well under a minute on two cores: about
11.5k rows (4 days x 3000, ~150 frauds) train both frameworks in a few seconds each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pytest
import torch
from upath import UPath

from tests.unit.helpers import DAY
from tradewind.data.features import build_features, labels
from tradewind.data.ingest import ingest_partition
from tradewind.data.spec import DatasetSpec
from tradewind.data.synthetic import generate_day
from tradewind.training.data import time_split
from tradewind.training.trainer import TrainResult, train
from tradewind.validation.reader import normalise
from tradewind.validation.runner import validate_partition

torch.set_num_threads(1)  # tiny networks: one thread is as fast and avoids oversubscribing 2 cores

DAYS = 4
ROWS_PER_DAY = 3000
LAKE_DATES = [DAY + dt.timedelta(days=i) for i in range(3)]
XGB_PARAMS = {"max_depth": 4, "num_boost_round": 200, "nthread": 2}
TORCH_PARAMS = {"epochs": 8}


@dataclass
class Lake:
    root: UPath
    dates: list[dt.date]
    lineage: dict[str, dict[str, object]]

    @property
    def date_arg(self) -> str:
        return ",".join(d.isoformat() for d in self.dates)


@pytest.fixture(scope="session")
def frame(shipped_spec: DatasetSpec) -> pd.DataFrame:
    """Raw rows of 4 days, typed as the validated-partition reader returns them."""
    options = shipped_spec.source.synthetic.model_dump() | {"rows_per_day": ROWS_PER_DAY}
    days = [generate_day(DAY + dt.timedelta(days=i), **options) for i in range(DAYS)]
    return normalise(pd.concat(days, ignore_index=True))


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory, small_spec: DatasetSpec) -> Lake:
    """Three small validated days (ingested and validated by the real pipeline code)."""
    root = UPath(f"file://{tmp_path_factory.mktemp('lake')}")
    lineage = {}
    for day in LAKE_DATES:
        raw = ingest_partition(small_spec, root, day)
        outcome = validate_partition(small_spec, root, day, raw_lineage=raw)
        assert outcome.success, outcome.message()
        lineage[day.isoformat()] = outcome.lineage
    return Lake(root=root, dates=LAKE_DATES, lineage=lineage)


@pytest.fixture(scope="session")
def xgb_result(shipped_spec: DatasetSpec, frame: pd.DataFrame) -> TrainResult:
    return train(shipped_spec, frame, "xgboost", XGB_PARAMS, data_hashes={"2026-01-05": "abc"})


@pytest.fixture(scope="session")
def torch_result(shipped_spec: DatasetSpec, frame: pd.DataFrame) -> TrainResult:
    return train(shipped_spec, frame, "torch", TORCH_PARAMS)


@pytest.fixture(scope="module")
def xy(frame: pd.DataFrame, shipped_spec: DatasetSpec):
    """Built features and labels of the training and holdout parts of ``frame``."""
    train, holdout = time_split(frame, shipped_spec)
    return (
        build_features(train, shipped_spec),
        labels(train, shipped_spec),
        build_features(holdout, shipped_spec),
        labels(holdout, shipped_spec),
    )
