"""Evaluate and promote: one candidate model folder in, a registered version and a gate verdict out.

1. The run is logged (or reused: same data, code and params give the same run) with the model as a
   pyfunc, and a version is registered for it (one per run).
2. The candidate and the current champion are scored on the *same* rows: the candidate's holdout
   (the gate's basis) and, when given, the most recent validated window (recorded for the record),
   with the metrics of the spec's task (a regression's mean baseline is the candidate's training
   mean, for both).
3. The gate of the spec's task and data set decides. The verdict and its reasons are stored on the
   version; on pass the first model ever becomes ``champion``, later ones ``challenger`` (the canary
   takes it from there). A failed candidate moves no alias. A candidate that passed but lost a race
   for the alias (another promotion set it first) ends ``lost``, with why on the version
   (``tradewind.promotion``).

A newer candidate replacing an older challenger (one the canary has not taken yet) is the normal
flow: the gate judges a candidate against the champion, never against the challenger. What it must
not do is replace a challenger it never saw: the alias is compare-and-set against what the
promotion read before scoring, so when another promotion set (or a canary promoted or cleared) the
challenger meanwhile, this one ends ``lost`` and leaves the other's in place.

Airflow-free: the Airflow layer passes the context (dag/run ids) in as plain data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from tradewind.data.pii import redact, segment_values
from tradewind.data.spec import DatasetSpec
from tradewind.data.target import label_targets
from tradewind.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    AliasConflict,
    alias_history,
    current,
    move_alias,
    set_challenger,
)
from tradewind.registry.gate import STAT_KEYS, Decision, GateConfig, decide
from tradewind.registry.loading import load_registered_model
from tradewind.registry.pyfunc import pyfunc_logger
from tradewind.registry.store import using_tracking_uri
from tradewind.registry.tracking import TrainingData, log_training_run
from tradewind.registry.versions import record_decision, register_version
from tradewind.training.model import TrainedModel, load_model
from tradewind.training.trainer import holdout_metrics

log = logging.getLogger(__name__)

# The combined hash of the partitions a run trained on (retrain governance reads it back).
DATA_HASH_TAG = "tradewind.data_hash"
# How the promotion ended on the version: champion, challenger, reject, or "lost: <why>".
PROMOTION_TAG = "tradewind.promotion"


@dataclass
class PromotionOutcome:
    """What happened to one candidate (returned to the caller and kept as the task's XCom)."""

    model_name: str
    run_id: str
    run_reused: bool
    version: str
    champion_before: str | None
    decision: Decision
    candidate_metrics: dict[str, Any]
    champion_metrics: dict[str, Any] | None
    recent: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "run_id": self.run_id,
            "run_reused": self.run_reused,
            "version": self.version,
            "champion_before": self.champion_before,
            "action": self.decision.action,
            "passed": self.decision.passed,
            "reasons": list(self.decision.reasons),
            "candidate_metrics": self.candidate_metrics,
            "champion_metrics": self.champion_metrics,
            "recent": self.recent,
        }


class CandidateError(ValueError):
    """The candidate cannot be judged as it is (the message says what it lacks)."""


def score(model: TrainedModel, rows: pd.DataFrame, spec: DatasetSpec, baseline: float | None = None) -> dict[str, Any]:
    """Metrics of ``spec.task`` of ``model`` on raw ``rows`` (overall and per segment), through the
    serving path. ``baseline``: a regression's mean baseline (the candidate's training mean, so the
    candidate and the champion are measured against the same one)."""
    segments = segment_values(rows, spec)
    return holdout_metrics(spec, label_targets(rows, spec), model.predict_proba(rows), segments, baseline=baseline)


def mean_baseline(spec: DatasetSpec, summary: Mapping[str, Any]) -> float | None:
    """A regression candidate's mean baseline, its training target's mean as the trainer records it
    (``metrics.baseline_mean``); ``None`` for another task. :class:`CandidateError` when it is missing."""
    if spec.task != "regression":
        return None
    value = (summary.get("metrics") or {}).get("baseline_mean")
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise CandidateError(
            f"data set '{spec.name}': the regression model's metrics lack baseline_mean (its training target's "
            f"mean, got {value!r}), which the gate's mean baseline needs: train it again with this version"
        )
    return float(value)


def holdout_stats(holdout: pd.DataFrame, spec: DatasetSpec, training_rows: int) -> dict[str, int]:
    """What the gate reads of the data (``tradewind.registry.gate.STAT_KEYS``): the training rows and
    the holdout's size per task (binary: positives; multiclass: rows of its smallest class, a class
    absent from the holdout counting 0; regression: rows)."""
    if spec.task == "regression":
        size = len(holdout)
    else:
        targets = label_targets(holdout, spec)
        if spec.task == "binary":
            size = int(targets.sum())
        else:
            counts = np.bincount(targets, minlength=len(spec.label_values or ()))
            size = int(counts.min()) if len(counts) else 0
    return {"training_rows": training_rows, STAT_KEYS[spec.task]: size}


def champion_model(client: MlflowClient, tracking_uri: str, model_name: str) -> tuple[str, TrainedModel] | None:
    """The current champion's version and model, loaded from its registered artifacts."""
    version = current(client, model_name, CHAMPION)
    if version is None:
        return None
    return version, load_registered_model(client, tracking_uri, model_name, version)


def promote_candidate(
    client: MlflowClient,
    tracking_uri: str,
    *,
    model_name: str,
    experiment: str,
    spec: DatasetSpec,
    model_dir: str,
    summary: Mapping[str, Any],
    holdout: pd.DataFrame,
    training_rows: int,
    config: GateConfig,
    recent: pd.DataFrame | None = None,
    code_revision: str = "unknown",
    airflow_context: Mapping[str, Any] | None = None,
    triggered_by: str = "manual",
) -> PromotionOutcome:
    """Log, register, score against the champion, apply the gate, record and move aliases."""
    candidate = load_model(model_dir)
    baseline = mean_baseline(spec, summary)  # before anything is logged: a candidate that cannot be judged stops here
    data_hashes = dict(summary.get("data_hashes") or {})
    with using_tracking_uri(tracking_uri):
        run = log_training_run(
            client,
            experiment,
            framework=candidate.framework,
            params=dict(summary.get("params") or {}),
            metrics=dict(summary.get("metrics") or {}),
            data_hashes=data_hashes,
            code_revision=code_revision,
            model_logger=pyfunc_logger(model_dir, holdout, spec),
            model_name="model",
            features=candidate.feature_set.columns,
            dataset=TrainingData(  # the run's dataset record: pii columns hashed or dropped
                frame=redact(holdout, spec),
                name=spec.name,
                content_hash=str(summary.get("data_hash") or ""),
                targets=spec.label,
            ),
            airflow_context=airflow_context,
            tags={DATA_HASH_TAG: str(summary.get("data_hash") or "")},
        )
        version = str(register_version(client, model_name, run.run_id).version)
    champion = champion_model(client, tracking_uri, model_name)
    challenger = current(client, model_name, CHALLENGER)  # what a "challenger" verdict may replace
    candidate_metrics = score(candidate, holdout, spec, baseline)
    champion_metrics = score(champion[1], holdout, spec, baseline) if champion else None
    recent_scores: dict[str, Any] = {}
    if recent is not None and len(recent):
        recent_scores["candidate"] = score(candidate, recent, spec, baseline)
        if champion:
            recent_scores["champion"] = score(champion[1], recent, spec, baseline)
    data_stats = holdout_stats(holdout, spec, training_rows)
    if champion and champion[0] == version:  # a retry of the run that made the champion: nothing to do
        decision = Decision(passed=True, action="champion", reasons=[], notes=[f"version {version} is champion"])
        return _outcome(model_name, run, version, champion[0], decision, candidate_metrics, None, recent_scores)
    decision = decide(candidate_metrics, champion_metrics, data_stats, config, task=spec.task, dataset=spec.name)
    record_decision(client, model_name, version, decision)
    primary = config.rules(spec.task, spec.name).primary_metric
    reason = f"gate passed on {len(holdout)} holdout rows ({primary})"
    decision = _apply_decision(client, model_name, version, decision, reason, triggered_by, challenger)
    log.info(
        "%s version %s: %s%s",
        model_name,
        version,
        decision.action,
        "" if decision.passed else " (" + "; ".join(decision.reasons) + ")",
    )
    champion_before = champion[0] if champion else None
    return _outcome(
        model_name, run, version, champion_before, decision, candidate_metrics, champion_metrics, recent_scores
    )


def _apply_decision(
    client: MlflowClient,
    model_name: str,
    version: str,
    decision: Decision,
    reason: str,
    triggered_by: str,
    challenger: str | None,
) -> Decision:
    """Move the alias the gate chose, and record the promotion's end on the version (``tradewind.promotion``).

    ``challenger``: what the promotion read before scoring; ``challenger`` is replaced only if it
    still holds that. A promotion that loses a race (another one set the alias it expected to find
    empty or unchanged) moves nothing; its version says ``lost: <why>``, and the decision returned says so.
    """
    try:
        if decision.action == "champion":
            move_alias(
                client, model_name, CHAMPION, version, reason=reason, triggered_by=triggered_by, expected_current=None
            )
        elif decision.action == "challenger":
            set_challenger(
                client, model_name, version, reason=reason, triggered_by=triggered_by, expected_current=challenger
            )
    except AliasConflict as err:
        why = _lost_reason(client, model_name, err)
        client.set_model_version_tag(model_name, version, PROMOTION_TAG, f"lost: {why}")
        log.warning("%s version %s lost its promotion: %s", model_name, version, why)
        return Decision(passed=decision.passed, action="lost", reasons=[why], notes=decision.notes)
    client.set_model_version_tag(model_name, version, PROMOTION_TAG, decision.action)
    return decision


def _lost_reason(client: MlflowClient, model_name: str, err: AliasConflict) -> str:
    moves = [e for e in alias_history(client, model_name, err.alias) if e["to"] == err.actual]
    by = f" by {moves[-1]['triggered_by']} at {moves[-1]['at']}" if moves else ""
    moved = f"'{err.alias}' was {'cleared' if err.actual is None else f'set to version {err.actual}'}{by}"
    expected = f"{'no ' + err.alias if err.expected is None else 'version ' + str(err.expected)}"
    if err.alias == CHALLENGER:
        return (
            f"{moved} after this version's promotion found {expected} there; it is not replaced unseen "
            "(promote this version again to have it judged against the champion of now)"
        )
    return f"{moved} while this version was judged against {expected}; a later promotion judges it against the new one"


def _outcome(
    model_name: str,
    run: Any,
    version: str,
    champion_before: str | None,
    decision: Decision,
    candidate_metrics: dict[str, Any],
    champion_metrics: dict[str, Any] | None,
    recent: dict[str, Any],
) -> PromotionOutcome:
    return PromotionOutcome(
        model_name=model_name,
        run_id=run.run_id,
        run_reused=run.reused,
        version=version,
        champion_before=champion_before,
        decision=decision,
        candidate_metrics=candidate_metrics,
        champion_metrics=champion_metrics,
        recent=recent,
    )


def retrain_history(client: MlflowClient, experiment: str, limit: int = 200) -> tuple[list[dt.datetime], str | None]:
    """Start times of the experiment's training runs (newest first) and the data hash of the newest."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return [], None
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"], max_results=limit)
    starts = [dt.datetime.fromtimestamp(r.info.start_time / 1000, tz=dt.UTC) for r in runs]
    last = runs[0].data.tags.get(DATA_HASH_TAG) if runs else None
    return starts, last or None
