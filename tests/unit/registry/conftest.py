"""Fixtures of the registry tests: one logged model per session, in the unit tier's MLflow store.

MLflow is imported and a model logged once (a tiny LogisticRegression, ~2 s); alias tests make
cheap extra versions pointing at that same model, each in a fresh registered-model name.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tradewind.registry.store import using_tracking_uri
from tradewind.registry.tracking import TrainingData, TrainingRun, log_training_run

FEATURES = ["amount", "hour", "age_days"]
_names = itertools.count(1)


@dataclass(frozen=True)
class LoggedModel:
    run: TrainingRun
    frame: pd.DataFrame
    experiment: str


def tiny_frame(seed: int = 0, rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((rows, len(FEATURES))), columns=FEATURES)
    frame["is_fraud"] = (frame["amount"] > 0.7).astype(int)
    return frame


def sklearn_logger(frame: pd.DataFrame) -> Callable[[str], object]:
    """A ``model_logger`` for a LogisticRegression trained on ``frame``, with signature and example."""

    def log(name: str) -> object:
        import mlflow.sklearn
        from mlflow.models import infer_signature
        from sklearn.linear_model import LogisticRegression

        x, y = frame[FEATURES], frame["is_fraud"]
        model = LogisticRegression().fit(x, y)
        signature = infer_signature(x, model.predict_proba(x)[:, 1])
        return mlflow.sklearn.log_model(
            model, name=name, signature=signature, input_example=x.head(3), pip_requirements=["scikit-learn"]
        )

    return log


METRICS = {"pr_auc": 0.42, "roc_auc": 0.91, "ece": 0.01, "segments": {"US": {"pr_auc": 0.4}, "GB": {"pr_auc": 0.3}}}


def train_and_log(client: MlflowClient, experiment: str, seed: int = 0, **overrides: object) -> LoggedModel:
    frame = tiny_frame(seed)
    kwargs: dict = {
        "framework": "sklearn",
        "params": {"C": 1.0, "seed": seed},
        "metrics": METRICS,
        "data_hashes": {"transactions/2026-01-05": f"hash-{seed}"},
        "code_revision": "abc1234",
        "model_logger": sklearn_logger(frame),
        "features": FEATURES,
        "dataset": TrainingData(frame=frame, name="transactions", content_hash=f"{seed:064x}", targets="is_fraud"),
        "airflow_context": {"dag_id": "train", "run_id": "manual__1", "try_number": 1},
    }
    kwargs.update(overrides)
    return LoggedModel(run=log_training_run(client, experiment, **kwargs), frame=frame, experiment=experiment)


@pytest.fixture(scope="session")
def logged(client: MlflowClient) -> LoggedModel:
    """One real training run with a logged sklearn model (shared by the session)."""
    return train_and_log(client, "registry-tests")


@pytest.fixture
def model_name() -> str:
    """A fresh registered-model name per test (the store is shared)."""
    return f"fraud-{next(_names)}"


@pytest.fixture
def make_versions(client: MlflowClient, logged: LoggedModel) -> Callable[[str, int], list[str]]:
    """``make(name, n)``: n versions of ``name``, each its own run, all pointing at the session's model."""

    def make(name: str, n: int) -> list[str]:
        from tradewind.registry.versions import _ensure_registered_model, model_source

        _ensure_registered_model(client, name)
        source, model_id = model_source(client, logged.run.run_id, "model")
        out = []
        for _ in range(n):
            run = client.create_run(logged.run.experiment_id)
            client.set_terminated(run.info.run_id)
            with using_tracking_uri(client.tracking_uri):
                version = client.create_model_version(name, source=source, run_id=run.info.run_id, model_id=model_id)
            out.append(str(version.version))
        return out

    return make
