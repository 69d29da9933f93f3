"""Requests that arrive together are scored together: one model call for all of them.

Much of the cost of scoring a small request is fixed (handing it to the framework), not per row.
Under concurrent load, :class:`CoalescingScorer` lets the requests that queue up while a batch is
being scored go through as ONE call, then splits the scores back. The server coalesces built
features (:class:`~tradewind.data.features.FeatureMatrix`, joined with its ``concat``); frames work
too (the default ``concat``).
There is no timer: an idle server scores a lone request at once, and a busy one batches exactly
what is waiting (leader/follower: the first waiting thread scores for everybody, then hands the
lead to the next waiting thread; no thread of its own to start or stop).

A failure of a combined call is never blamed on a neighbour: the batch is scored again request by
request, so each request gets its own scores or its own error.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sized
from typing import Any, Generic, TypeVar, cast

import numpy as np
import pandas as pd

Batch = TypeVar("Batch", bound=Sized)


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True, copy=False)


class _Job(Generic[Batch]):
    __slots__ = ("error", "finished", "frame", "lead", "scores", "wake")

    def __init__(self, frame: Batch) -> None:
        self.frame = frame
        self.scores: np.ndarray | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lead = False
        self.wake = threading.Event()


class CoalescingScorer(Generic[Batch]):
    """Scores batches (frames, or anything ``concat`` joins) of one model, coalescing concurrent calls
    into calls of at most ``max_rows`` rows (thread-safe)."""

    def __init__(
        self,
        predict: Callable[[Batch], np.ndarray],
        max_rows: int = 1000,
        concat: Callable[[list[Batch]], Batch] | None = None,
    ) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._concat = concat or cast(Callable[[list[Any]], Any], concat_frames)
        self._lock = threading.Lock()
        self._queue: collections.deque[_Job[Batch]] = collections.deque()
        self._leading = False
        self.calls = 0  # predict calls made (for tests and curiosity)

    def score(self, frame: Batch) -> np.ndarray:
        """The scores of ``frame`` (one per row); raises what the model raised on it."""
        job = _Job(frame)
        with self._lock:
            self._queue.append(job)
            if not self._leading:
                self._leading = job.lead = True
        if not job.lead:
            job.wake.wait()  # set when our scores are in, or when we are handed the lead
        if job.lead:
            self._lead(job)
        if job.error is not None:
            raise job.error
        assert job.scores is not None
        return job.scores

    def _lead(self, mine: _Job[Batch]) -> None:
        while not mine.finished:
            with self._lock:
                batch = self._take()
            self._run(batch)
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.wake.set()
            else:
                self._leading = False

    def _take(self) -> list[_Job[Batch]]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].frame)
        while self._queue and rows + len(self._queue[0].frame) <= self._max_rows:
            rows += len(self._queue[0].frame)
            batch.append(self._queue.popleft())
        return batch

    def _run(self, batch: list[_Job[Batch]]) -> None:
        try:
            if len(batch) == 1:
                batch[0].scores = self._call(batch[0].frame)
            else:
                combined = self._call(self._concat([j.frame for j in batch]))
                if combined.shape != (sum(len(j.frame) for j in batch),):
                    raise ValueError(f"the model returned {combined.shape} scores for a batch")
                ends = np.cumsum([len(j.frame) for j in batch])
                for job, part in zip(batch, np.split(combined, ends[:-1]), strict=True):
                    job.scores = part
        except Exception as err:
            if len(batch) == 1:
                batch[0].error = err
            else:  # find out whose request it was: each one alone
                for job in batch:
                    try:
                        job.scores = self._call(job.frame)
                    except Exception as own:
                        job.error = own
        for job in batch:
            job.finished = True
            if not job.lead:
                job.wake.set()

    def _call(self, frame: Batch) -> np.ndarray:
        self.calls += 1
        return np.asarray(self._predict(frame), dtype=np.float64)
