"""One predict request, without HTTP: parse, route, validate, score once, measure, log.

:class:`PredictionService` is what ``POST /predict`` calls: on the event loop for a small body (a
hand-off to a worker thread would cost a third of scoring one record), in a worker thread
otherwise (``inline_max_bytes``). It raises :class:`~tradewind.serving.validation.RequestInvalid`
(422), :class:`TooManyInstances` (413), :class:`NotReady` (503) and :class:`ScoringError` (500,
counted as the variant's error); anything it returns is a :class:`Prediction`.

A request routed to the challenger that the challenger cannot score (its model raises, or gives
scores that are not finite probabilities) is counted as the challenger's error, which is what the
canary judges, and answered by the champion: a bad release never fails a client's valid request.

A request's features are built once for the whole batch (:meth:`TrainedModel.feature_matrix`, the
shared feature path, on the validated columns: no pandas frame on the way), and concurrent
requests for the same model share one model call on their joined features
(:mod:`tradewind.serving.batching`). In shadow mode the
prediction carries a ``shadow`` job, which the app runs after the response is sent: the challenger
scores a copy of the request, and whatever happens there stays in the challenger's metrics and
the inference log.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradewind.data.columns import ColumnBatch
from tradewind.data.features import FeatureMatrix
from tradewind.data.spec import ColumnRole, DatasetSpec
from tradewind.serving.admission import peek_first_instance
from tradewind.serving.batching import CoalescingScorer
from tradewind.serving.config import ServingConfig
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.serving.inference_log import InferenceLogWriter, ScoredBatch
from tradewind.serving.metrics import ServingMetrics
from tradewind.serving.models import LoadedModel, ModelHolder
from tradewind.serving.responses import expected_shape, observed, predictions
from tradewind.serving.router import TrafficRouter, routing_key
from tradewind.serving.validation import RequestInvalid, parse_instances

log = logging.getLogger(__name__)


class TooManyInstances(ValueError):
    """More instances than ``max_batch_rows`` (answered 413)."""


class NotReady(RuntimeError):
    """No champion is loaded (answered 503 with the reason)."""


class ScoringError(RuntimeError):
    """A variant's model failed on a valid request (answered 500; counted in the variant's errors)."""

    def __init__(self, variant: str, version: str) -> None:
        super().__init__(f"the {variant} model (version {version}) failed to score this request")
        self.variant = variant
        self.version = version


@dataclass(frozen=True)
class Prediction:
    scores: np.ndarray
    variant: str
    model_version: str
    request_id: str
    shadow: Callable[[], None] | None = None
    spec: DatasetSpec | None = None  # the answering model's (its task and classes); None: binary scores

    def body(self) -> dict[str, Any]:
        return {
            "predictions": predictions(self.spec, self.scores) if self.spec is not None else self.scores.tolist(),
            "variant": self.variant,
            "model_version": self.model_version,
            "request_id": self.request_id,
        }


class PredictionService:
    """The predict path over a model holder, a router, metrics and (optionally) the inference log."""

    def __init__(
        self,
        config: ServingConfig,
        spec: DatasetSpec,
        holder: ModelHolder,
        router: TrafficRouter,
        metrics: ServingMetrics,
        inference_log: InferenceLogWriter | None = None,
    ) -> None:
        self.config = config
        self.holder = holder
        self.router = router
        self.metrics = metrics
        self.inference_log = inference_log
        # One coalescing scorer per loaded model; forgotten with the model once it is swapped out.
        self._scorers: weakref.WeakKeyDictionary[LoadedModel, CoalescingScorer[FeatureMatrix]] = (
            weakref.WeakKeyDictionary()
        )
        self._scorers_lock = threading.Lock()
        self.key_column = next((n for n, c in spec.columns.items() if c.role == ColumnRole.key), None)

    def predict(self, body: bytes, *, request_id: str, entity: str | None = None) -> Prediction:
        deployment = self.holder.deployment
        if deployment.champion is None:
            raise NotReady(self.holder.not_ready_reason() or "no champion loaded")
        instances = parse_instances(body)
        if len(instances) > self.config.max_batch_rows:
            raise TooManyInstances(
                f"{len(instances)} instances in one request; the limit is {self.config.max_batch_rows}"
            )
        key = routing_key(entity, instances[0], self.key_column, request_id)
        route = self.router.route(key, has_challenger=deployment.challenger is not None)
        variant = route.variant
        model = deployment.get(variant) or deployment.champion
        frame = model.validator.validate_columns(instances)
        try:
            scores = self._score(variant, model, frame)
        except ScoringError:
            if variant != CHALLENGER:
                raise
            # Counted as the challenger's error above; the champion answers the client.
            failed, variant, model = model, CHAMPION, deployment.champion
            if model.validator.key != failed.validator.key:
                frame = model.validator.validate_columns(instances)
            scores = self._score(variant, model, frame)
        served_at = dt.datetime.now(dt.UTC)
        self._log(frame, scores, variant, model, request_id, key, False, served_at)
        shadow = None
        if route.shadow and deployment.challenger is not None:
            shadow = functools.partial(
                self._shadow, deployment.challenger, model, instances, frame, request_id, key, served_at
            )
        return Prediction(
            scores=scores,
            variant=variant,
            model_version=model.version,
            request_id=request_id,
            shadow=shadow,
            spec=model.model.spec,
        )

    def variant_for(self, body: bytes, *, request_id: str, entity: str | None = None) -> str:
        """The variant a request would be routed to, without parsing or scoring it (a refused request's label)."""
        deployment = self.holder.deployment
        key = routing_key(entity, peek_first_instance(body), self.key_column, request_id)
        return self.router.route(key, has_challenger=deployment.challenger is not None).variant

    def _scorer(self, model: LoadedModel) -> CoalescingScorer[FeatureMatrix]:
        scorer = self._scorers.get(model)
        if scorer is None:
            with self._scorers_lock:
                scorer = self._scorers.get(model)
                if scorer is None:
                    scorer = CoalescingScorer(
                        model.model.predict_matrix, max_rows=self.config.max_batch_rows, concat=FeatureMatrix.concat
                    )
                    self._scorers[model] = scorer
        return scorer

    def _score(self, variant: str, model: LoadedModel, frame: ColumnBatch) -> np.ndarray:
        started = time.perf_counter()
        try:
            scores = self._scorer(model).score(model.model.feature_matrix(frame))
            expected = expected_shape(model.model.spec, len(frame))
            if scores.shape != expected or not np.isfinite(scores).all():
                raise ValueError(
                    f"the model returned {scores.shape} scores for {expected} (finite: {np.isfinite(scores).all()})"
                )
        except Exception as err:
            self.metrics.failed(variant)
            log.exception("Scoring failed in %s version %s", variant, model.version)
            raise ScoringError(variant, model.version) from err
        seconds = time.perf_counter() - started
        self.metrics.scored(variant, seconds, observed(model.model.spec, scores), rows=len(frame))
        return scores

    def _log(
        self,
        frame: ColumnBatch,
        scores: np.ndarray,
        variant: str,
        model: LoadedModel,
        request_id: str,
        entity: str,
        shadow: bool,
        served_at: dt.datetime,
    ) -> None:
        if self.inference_log is None:
            return
        batch = ScoredBatch(
            features=frame,
            scores=scores,
            variant=variant,
            model_version=model.version,
            request_id=request_id,
            entity=entity,
            shadow=shadow,
            served_at=served_at,
        )
        self.inference_log.put(batch)

    def _shadow(
        self,
        challenger: LoadedModel,
        champion: LoadedModel,
        instances: Sequence[Any],
        frame: ColumnBatch,
        request_id: str,
        entity: str,
        served_at: dt.datetime,
    ) -> None:
        """The challenger scores a copy; nothing here reaches the client."""
        try:
            if challenger.validator.key != champion.validator.key:
                frame = challenger.validator.validate_columns(instances)
        except RequestInvalid as err:
            self.metrics.failed(CHALLENGER)
            log.warning("Shadow: challenger version %s rejects request %s: %s", challenger.version, request_id, err)
            return
        try:
            scores = self._score(CHALLENGER, challenger, frame)
        except ScoringError:
            return
        self._log(frame, scores, CHALLENGER, challenger, request_id, entity, True, served_at)
