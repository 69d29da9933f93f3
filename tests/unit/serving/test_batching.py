"""Concurrent requests share one model call, each gets its own scores back, and errors stay their own."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.unit.serving.conftest import LoggedModel, records, wait_for
from tradewind.data.features import FeatureMatrix
from tradewind.serving.batching import CoalescingScorer
from tradewind.serving.validation import RequestValidator

pytestmark = pytest.mark.unit

POISON = 13_131.0  # an amount the "model" below refuses


class HeldModel:
    """A real model whose first call waits until released, so that others queue up behind it."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.release = threading.Event()
        self.entered = threading.Event()
        self.sizes: list[int] = []

    def __call__(self, frame: pd.DataFrame | FeatureMatrix) -> np.ndarray:
        self.sizes.append(len(frame))
        if len(self.sizes) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if isinstance(frame, FeatureMatrix):
            return self.model.predict_matrix(frame)
        if (frame["amount"] == POISON).any():
            raise ValueError("poisoned record")
        return self.model.predict_proba(frame)


@pytest.fixture
def frames(raw_rows: pd.DataFrame, shipped_spec) -> list[pd.DataFrame]:
    validator = RequestValidator(shipped_spec)
    return [validator.validate(records(raw_rows.iloc[i * 3 : i * 3 + 1 + i % 3])) for i in range(8)]


def _score_in_threads(scorer: CoalescingScorer[Any], frames: list[Any], held: HeldModel) -> list[Any]:
    results: list[Any] = [None] * len(frames)

    def one(i: int) -> None:
        try:
            results[i] = scorer.score(frames[i])
        except Exception as err:
            results[i] = err

    first = threading.Thread(target=one, args=(0,))
    first.start()
    assert held.entered.wait(10)  # the first request is inside the model: the rest must queue
    others = [threading.Thread(target=one, args=(i,)) for i in range(1, len(frames))]
    for thread in others:
        thread.start()
    wait_for(lambda: len(scorer._queue) == len(others), what="the others to queue")
    held.release.set()
    for thread in [first, *others]:
        thread.join(10)
    return results


def test_queued_requests_go_through_as_one_call_and_get_their_own_scores(frames, logged_models):
    model = logged_models["a"].model
    held = HeldModel(model)
    scorer = CoalescingScorer(held)
    results = _score_in_threads(scorer, frames, held)
    assert held.sizes == [len(frames[0]), sum(len(f) for f in frames[1:])]
    for frame, scores in zip(frames, results, strict=True):
        np.testing.assert_allclose(scores, model.predict_proba(frame), rtol=1e-6)


def test_a_bad_request_in_a_batch_fails_alone(frames, logged_models):
    model: LoggedModel = logged_models["a"]
    frames[4] = frames[4].assign(amount=POISON)
    held = HeldModel(model.model)
    results = _score_in_threads(CoalescingScorer(held), frames, held)
    assert isinstance(results[4], ValueError)
    for i, (frame, scores) in enumerate(zip(frames, results, strict=True)):
        if i != 4:
            np.testing.assert_allclose(scores, model.model.predict_proba(frame), rtol=1e-6)


def test_a_batch_never_exceeds_max_rows(frames, logged_models):
    held = HeldModel(logged_models["a"].model)
    limit = 5
    _score_in_threads(CoalescingScorer(held, max_rows=limit), frames, held)
    assert sum(held.sizes) == sum(len(f) for f in frames)
    assert max(held.sizes[1:]) <= limit
    assert len(held.sizes) < len(frames)  # still batched


def test_a_lone_request_is_scored_at_once(frames, logged_models):
    calls: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        return logged_models["a"].model.predict_proba(frame)

    scorer = CoalescingScorer(predict)
    # Scored in the caller's thread with no one else waiting: it returns without waiting for company
    # (the scorer has no timer to wait on), one model call per request.
    for frame in frames:
        assert len(scorer.score(frame)) == len(frame)
    assert calls == [len(f) for f in frames]


def test_built_features_coalesce_into_one_call_with_the_same_scores(frames, logged_models):
    """What the server coalesces: feature matrices, joined row-wise; each request's scores are the
    bytes it gets alone."""
    model = logged_models["a"].model
    matrices = [model.feature_matrix(frame) for frame in frames]
    held = HeldModel(model)
    results = _score_in_threads(CoalescingScorer(held, concat=FeatureMatrix.concat), matrices, held)
    assert held.sizes == [len(frames[0]), sum(len(f) for f in frames[1:])]
    for frame, scores in zip(frames, results, strict=True):
        assert scores.tobytes() == model.predict_proba(frame).tobytes()
