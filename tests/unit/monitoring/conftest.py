"""Fixtures of the monitoring tests: synthetic days, a champion that scores them, inference logs on disk.

The "champion" is the synthetic source's own fraud model before any concept change (its log-odds of
the features), so it has real skill (ROC-AUC near 0.9) without training anything, and it is blind to a
concept change exactly as a trained model would be.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradewind.data import synthetic
from tradewind.data.spec import DatasetSpec
from tradewind.serving.config import InferenceLogConfig
from tradewind.serving.inference_log import InferenceLogWriter, ScoredBatch

# A Thursday: rows_for_day == rows_per_day.
DAY = dt.date(2026, 1, 8)


def champion_score(frame: pd.DataFrame) -> np.ndarray:
    """The source's fraud probability for the original concept (unknown categories add no risk)."""
    codes = {c: i for i, c in enumerate(synthetic.CATEGORIES)}
    cat = frame["merchant_category"].astype(object).map(codes)
    risk = np.where(cat.isna(), 0.0, synthetic.CATEGORY_RISK[cat.fillna(0).astype(int)])
    device = frame["device"].astype(object).map({d: i for i, d in enumerate(synthetic.DEVICES)}).astype(int)
    hour = frame["event_time"].dt.hour
    night = ((hour <= 5) | (hour >= 23)).astype(float)
    ratio = np.log1p(frame["amount"] / np.maximum(frame["customer_avg_amount_30d"], 1.0))
    logit = (
        synthetic.FRAUD_INTERCEPT
        + 1.35 * ratio
        + 1.1 * night
        + 0.35 * np.log1p(frame["distance_from_home_km"] / 100.0)
        + 1.0 * (frame["customer_age_days"] < 60)
        - 0.25 * np.log1p(frame["customer_txn_count_30d"])
        + risk
        + synthetic.DEVICE_RISK[device]
        + 0.8 * ~frame["card_present"].astype(bool)
    )
    return 1.0 / (1.0 + np.exp(-logit.to_numpy(dtype=np.float64)))


def day(rows: int, *, seed: int = 7, when: dt.date = DAY, drift: synthetic.DriftKnobs | None = None) -> pd.DataFrame:
    """A synthetic day of ``rows`` rows with the champion's ``score``."""
    frame = synthetic.generate_day(when, seed=seed, rows_per_day=rows, drift=drift)
    frame["score"] = champion_score(frame)
    return frame


def served(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """What the inference log keeps of a scored day: every column but the label."""
    return frame.drop(columns=[spec.label])


@pytest.fixture(scope="session")
def reference_day() -> pd.DataFrame:
    """The champion's training data (with its scores): 4000 rows of a normal day."""
    return day(4000, seed=11)


def write_log(root: Path, spec: DatasetSpec, batches: Iterable[tuple[pd.DataFrame, str, bool, dt.datetime]]) -> None:
    """Write ``(rows, model_version, shadow, served_at)`` batches with the real writer, one file each."""
    writer = InferenceLogWriter(f"file://{root}", spec, InferenceLogConfig(flush_interval_s=600, flush_rows=10**6))
    writer.start()
    for i, (frame, version, shadow, at) in enumerate(batches):
        variant = "challenger" if shadow else "champion"
        scores = frame["score"].to_numpy() if "score" in frame else np.full(len(frame), 0.1)
        batch = ScoredBatch(
            frame.drop(columns=["score"], errors="ignore"), scores, variant, version, f"r{i}", "e", shadow, at
        )
        assert writer.put(batch)
        assert writer.flush()
    writer.close()


@pytest.fixture
def log_writer(tmp_path: Path, shipped_spec: DatasetSpec) -> Callable[..., Path]:
    def make(batches: Iterable[tuple[pd.DataFrame, str, bool, dt.datetime]]) -> Path:
        root = tmp_path / "lake"
        write_log(root, shipped_spec, batches)
        return root

    return make
