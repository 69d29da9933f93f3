"""Fixtures of the training tests: trained models and built features (the frame and the lake: tests/unit/conftest.py).

Sizes are chosen so the whole training suite stays well under a minute on two cores: about
11.5k rows (4 days x 3000, ~150 frauds) train both frameworks in a few seconds each.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tradewind.data.features import build_features, labels
from tradewind.data.spec import DatasetSpec
from tradewind.data.split import time_split
from tradewind.training.trainer import TrainResult, train

torch.set_num_threads(1)  # tiny networks: one thread is as fast and avoids oversubscribing 2 cores

XGB_PARAMS = {"max_depth": 4, "num_boost_round": 200, "nthread": 2}
TORCH_PARAMS = {"epochs": 8}


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
