"""Performance drift: once labels arrive, the logged scores against the champion's validation metrics.

A labels feed is a frame of the spec's id column and its label (for transactions: ``transaction_id``
and ``is_fraud``), arriving hours or days after the requests were scored. Labels are read as the
task's targets (:func:`tradewind.data.target.label_targets`: binary 0/1 for the positive class,
multiclass the class's position, regression the value). :func:`join_labels` joins them to the
inference log (which keeps the spec's columns except the label, so the id is there):

* a record scored more than once (a retry) counts once: its latest scoring (by ``served_at`` when the
  frame has it, else its last row);
* an id labelled twice with the same label counts once; an id with conflicting labels is dropped;
* labels without a logged record, and records without a label yet, are counted, not joined;
* rows without a usable score (missing, NaN, a probability outside [0, 1], a predicted class the
  spec does not list) or label (a value the spec does not declare) are dropped and counted.

:func:`check_performance` computes the task's metrics of the joined rows
(:func:`tradewind.evaluation.metrics_for`, the same code as the training holdout) and reports a
drift when one of them is worse than the champion's validation value by more than ``drift.
performance.max_drop`` (:func:`drops_for`):

* binary: ``pr_auc`` and ``roc_auc`` (by default), an absolute drop;
* multiclass: ``macro_f1`` (by default) or ``accuracy``, an absolute drop. The log keeps the predicted
  class and its probability, not every class's, so these (which need only the predicted class) are
  the figures it can give; log loss cannot be computed from it;
* regression: ``rmse`` (by default) or ``mae``, lower is better: a rise as a share of the champion's
  value (``0.1``: at most 10% worse).

Below ``min_labelled_rows`` labelled rows it is skipped, as is a binary window with fewer than
``min_positives`` positives.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from tradewind.data.pii import redact
from tradewind.data.spec import DatasetSpec
from tradewind.data.target import PREDICTED_CLASS_COLUMN, LabelError, label_targets, target_names
from tradewind.evaluation import metrics_for, primary_metric
from tradewind.monitoring.config import DriftConfig, PerformanceSettings, drift_config
from tradewind.monitoring.window import Window

log = logging.getLogger(__name__)

Status = Literal["drift", "no_drift", "skipped"]
EPS: Final = 1e-9  # a drop equal to the bound as written is allowed
# The metrics performance drift can compare per task, and those where lower is better (a relative rise).
TASK_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "binary": ("pr_auc", "roc_auc"),
    "multiclass": ("macro_f1", "accuracy"),
    "regression": ("rmse", "mae"),
}
LOWER_IS_BETTER: Final = frozenset({"rmse", "mae"})
# A task whose max_drop names none of its metrics compares its primary metric with this bound.
DEFAULT_DROP: Final = 0.1


def drops_for(spec: DatasetSpec, settings: PerformanceSettings) -> dict[str, float]:
    """The metrics ``spec``'s task compares and their bounds: those of ``max_drop`` that are the task's
    (:data:`TASK_METRICS`), else the task's primary metric with :data:`DEFAULT_DROP`."""
    own = {str(m): bound for m, bound in settings.max_drop.items() if m in TASK_METRICS[spec.task]}
    return own or {primary_metric(spec.task).name: DEFAULT_DROP}


def champion_figures(spec: DatasetSpec, metrics: Mapping[str, float]) -> dict[str, float]:
    """What a performance check needs of the champion's logged metrics: the task's metrics and a
    regression model's ``baseline_mean``."""
    wanted = {*TASK_METRICS[spec.task], "baseline_mean"}
    return {k: float(v) for k, v in metrics.items() if k in wanted}


@dataclass(frozen=True)
class LabelJoin:
    """The scored records that have a label, and the bookkeeping of the join."""

    frame: pd.DataFrame  # columns: <id>, score, <label> as the target (multiclass: predicted_class as an index)
    log_rows: int
    label_rows: int
    matched: int
    unlabelled: int  # logged records (unique ids) without a label yet
    unmatched_labels: int  # labelled ids with no logged record
    duplicate_log_ids: int  # extra scorings of an id (kept: the latest)
    duplicate_label_ids: int  # ids labelled more than once with the same label (kept once)
    conflicting_label_ids: int  # ids labelled with two different values (dropped)
    invalid_scores: int
    invalid_labels: int

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "frame"}


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    champion: float
    current: float | None
    drop: float | None
    max_drop: float
    drifted: bool
    note: str | None = None


@dataclass
class PerformanceResult:
    dataset: str
    status: Status
    drifted: bool
    reason: str | None
    rows: int
    positives: int | None  # binary only
    metrics: dict[str, float | None]
    comparisons: list[MetricComparison]
    join: dict[str, int]
    checked_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def drifted_metrics(self) -> list[str]:
        return [c.metric for c in self.comparisons if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drifted_metrics"] = self.drifted_metrics
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, default=str)

    def table(self) -> str:
        j = self.join
        lines = [
            f"performance check {self.dataset}: "
            + (f"skipped: {self.reason}" if self.skipped else ("DRIFT" if self.drifted else "no drift"))
            + f" ({self.rows} labelled row(s)"
            + ("" if self.positives is None else f", {self.positives} positive(s)")
            + ")",
            f"join: {j.get('matched', 0)} matched, {j.get('unlabelled', 0)} unlabelled, "
            f"{j.get('unmatched_labels', 0)} label(s) without a record, {j.get('duplicate_log_ids', 0)} repeated "
            f"scoring(s), {j.get('conflicting_label_ids', 0)} conflicting label(s)",
        ]
        served = self.extra.get("window")
        if self.extra.get("label_delay_hours") and isinstance(served, Mapping):
            lines.append(
                f"traffic served {served.get('start')} .. {served.get('end')} "
                f"(label_delay_hours {self.extra['label_delay_hours']:g})"
            )
        for c in self.comparisons:
            now = "-" if c.current is None else f"{c.current:.4f}"
            drop = "-" if c.drop is None else f"{c.drop:+.4f}"
            mark = "DRIFT" if c.drifted else (c.note or "-")
            lines.append(
                f"  {c.metric:<8} champion {c.champion:.4f}  now {now}  drop {drop}  max {c.max_drop:g}  {mark}"
            )
        return "\n".join(lines)


def join_labels(
    log_rows: pd.DataFrame | Window, labels: pd.DataFrame, spec: DatasetSpec, *, score_column: str = "score"
) -> LabelJoin:
    """Join a labels feed (``spec.id`` + ``spec.label``) to scored records of the inference log."""
    frame = log_rows.frame if isinstance(log_rows, Window) else log_rows
    key, label = spec.id, spec.label
    labels = redact(labels, spec)  # an id marked pii: hash is logged hashed; the labels' ids join as hashes too
    for name, f, need in (("inference log", frame, (key, score_column)), ("labels feed", labels, (key, label))):
        missing = [c for c in need if c not in f.columns]
        if missing:
            raise ValueError(f"{spec.name}: the {name} has no column(s) {', '.join(missing)}")

    # Scored records: one per id (the latest scoring), with a usable score.
    outputs = [score_column, *([PREDICTED_CLASS_COLUMN] if spec.task == "multiclass" else [])]
    cols = [key, *outputs, *(["served_at"] if "served_at" in frame.columns else [])]
    scored = frame[cols].dropna(subset=[key])
    if "served_at" in scored.columns:
        scored = scored.sort_values("served_at", kind="stable")
    unique = scored.drop_duplicates(subset=[key], keep="last")
    duplicate_log_ids = len(scored) - len(unique)
    scores = _scores(unique, spec, score_column)
    valid_score = scores.notna().all(axis=1).to_numpy()
    invalid_scores = int((~valid_score).sum())
    unique = pd.concat([unique[[key]].reset_index(drop=True), scores], axis=1)[valid_score]

    # Labels: the task's target, one per id; an id labelled two ways is dropped.
    raw = labels[[key, label]].dropna(subset=[key])
    values = targets(raw[label], spec)
    valid_label = ~np.isnan(values)
    invalid_labels = int((~valid_label).sum())
    raw = pd.DataFrame({key: raw[key].to_numpy(), label: values})[valid_label]
    distinct = raw.drop_duplicates()
    per_id = distinct.groupby(key, sort=False)[label].nunique()
    conflicting = per_id.index[per_id > 1]
    duplicate_label_ids = int(len(raw) - len(distinct))
    clean = distinct[~distinct[key].isin(conflicting)]
    if spec.task != "regression":
        clean = clean.astype({label: np.int64})

    unique_key, clean_key = _common_keys(unique[key], clean[key])
    joined = (
        pd.DataFrame({key: unique_key, **{c: unique[c].to_numpy() for c in outputs}})
        .merge(pd.DataFrame({key: clean_key, label: clean[label].to_numpy()}), on=key, how="inner", validate="1:1")
        .reset_index(drop=True)
    )
    return LabelJoin(
        frame=joined,
        log_rows=len(frame),
        label_rows=len(labels),
        matched=len(joined),
        unlabelled=len(unique) - len(joined),
        unmatched_labels=len(clean) - len(joined),
        duplicate_log_ids=duplicate_log_ids,
        duplicate_label_ids=duplicate_label_ids,
        conflicting_label_ids=len(conflicting),
        invalid_scores=invalid_scores,
        invalid_labels=invalid_labels,
    )


def check_performance(
    log_rows: pd.DataFrame | Window | LabelJoin,
    labels: pd.DataFrame | None,
    spec: DatasetSpec,
    champion_metrics: Mapping[str, float | None],
    config: DriftConfig | None = None,
    *,
    score_column: str = "score",
    extra: Mapping[str, Any] | None = None,
) -> PerformanceResult:
    """The task's metrics of the logged scores on labelled records against ``champion_metrics``.

    ``champion_metrics``: the champion's validation metrics, e.g. ``{"pr_auc": 0.31, "roc_auc": 0.9}``
    (other keys are ignored; a regression's ``baseline_mean`` feeds its mean baseline's figures).
    ``log_rows`` may be a :class:`LabelJoin` already made (then ``labels``
    is not used)."""
    settings = (config or drift_config(spec)).performance
    if isinstance(log_rows, LabelJoin):
        joined = log_rows
    elif labels is None:
        raise ValueError("labels are needed unless a LabelJoin is given")
    else:
        joined = join_labels(log_rows, labels, spec, score_column=score_column)
    frame = joined.frame
    rows = len(frame)
    positives = (int(frame[spec.label].sum()) if rows else 0) if spec.task == "binary" else None
    base: dict[str, Any] = {
        "dataset": spec.name,
        "rows": rows,
        "positives": positives,
        "join": joined.counts(),
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "extra": dict(extra or {}),
    }
    drops = drops_for(spec, settings)
    compared = {m: b for m, b in drops.items() if champion_metrics.get(m) is not None}

    def skipped(reason: str) -> PerformanceResult:
        log.info("Performance check %s skipped: %s", spec.name, reason)
        return PerformanceResult(status="skipped", drifted=False, reason=reason, metrics={}, comparisons=[], **base)

    if not compared:
        return skipped(f"the champion's metrics have none of {', '.join(drops)}")
    if rows < settings.min_labelled_rows:
        return skipped(f"{rows} labelled row(s), below min_labelled_rows {settings.min_labelled_rows}")
    if positives is not None and positives < settings.min_positives:
        return skipped(
            f"{positives} positive(s) in {rows} labelled row(s), below min_positives {settings.min_positives}"
        )
    if positives == rows:
        return skipped(f"all {rows} labelled row(s) are positive")

    metrics = task_metrics(frame, spec, champion_metrics, score_column)
    current: dict[str, float | None] = {m: metrics.get(m) for m in drops}
    comparisons = []
    for metric, bound in compared.items():
        champion = float(champion_metrics[metric])  # type: ignore[arg-type]
        now = current.get(metric)
        if now is None:
            note = metrics.get("undefined", {}).get(metric, "not computable")
            comparisons.append(MetricComparison(metric, champion, None, None, bound, False, note))
            continue
        drop = _worsening(metric, champion, float(now))
        comparisons.append(MetricComparison(metric, champion, float(now), drop, bound, drop > bound + EPS))
    drifted = any(c.drifted for c in comparisons)
    result = PerformanceResult(
        status="drift" if drifted else "no_drift", drifted=drifted, reason=None, metrics=current,
        comparisons=comparisons, **base,
    )  # fmt: skip
    log.info("%s", result.table().splitlines()[0])
    return result


def targets(values: pd.Series, spec: DatasetSpec) -> np.ndarray:
    """``values`` (label values) as the task's targets (:func:`~tradewind.data.target.label_targets`),
    float64 with NaN where a value is missing or not one the spec declares."""
    values = values.astype(object)
    if spec.task == "regression":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.full(len(numbers), np.nan)
        finite = np.isfinite(numbers)
        out[finite] = label_targets(pd.DataFrame({spec.label: numbers[finite]}), spec)
        return out
    mapping: dict[Any, float] = {}
    for value in pd.unique(values.dropna()):  # few distinct values: each read once
        try:
            mapping[value] = float(label_targets(pd.DataFrame({spec.label: pd.Series([value], dtype=object)}), spec)[0])
        except LabelError:
            continue
    return values.map(mapping).to_numpy(dtype=np.float64, na_value=np.nan)


def _scores(scored: pd.DataFrame, spec: DatasetSpec, score_column: str) -> pd.DataFrame:
    """The logged output as numbers, NaN where unusable: a probability outside [0, 1], a value that is
    not finite, a predicted class the spec does not list (kept as its class index)."""
    score = pd.to_numeric(scored[score_column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if spec.task == "regression":
        score = np.where(np.isfinite(score), score, np.nan)
    else:
        score = np.where((score >= 0) & (score <= 1), score, np.nan)
    out = pd.DataFrame({score_column: score})
    if spec.task == "multiclass":
        out[PREDICTED_CLASS_COLUMN] = targets(scored[PREDICTED_CLASS_COLUMN].reset_index(drop=True), spec)
    return out


def _probability_matrix(predicted: np.ndarray, probability: np.ndarray, classes: int) -> np.ndarray:
    """Rows x classes probabilities with the logged predicted class's probability at its place and the
    rest spread evenly over the other classes: each row's most probable class and its probability are
    the logged ones (what macro-F1, accuracy and top-label calibration read)."""
    rest = (1.0 - probability) / (classes - 1)
    matrix = np.repeat(rest[:, None], classes, axis=1)
    matrix[np.arange(len(predicted)), predicted] = probability
    return matrix


def task_metrics(
    frame: pd.DataFrame, spec: DatasetSpec, champion_metrics: Mapping[str, float | None], score_column: str = "score"
) -> dict[str, Any]:
    """The task's metrics (:func:`~tradewind.evaluation.metrics_for`) of joined rows (:class:`LabelJoin`'s frame)."""
    y, score = frame[spec.label].to_numpy(), frame[score_column].to_numpy(dtype=np.float64)
    if spec.task == "binary":
        return metrics_for("binary", y, score)
    if spec.task == "multiclass":
        names = target_names(spec) or []
        predicted = frame[PREDICTED_CLASS_COLUMN].to_numpy(dtype=np.int64)
        return metrics_for("multiclass", y, _probability_matrix(predicted, score, len(names)), classes=names)
    baseline = champion_metrics.get("baseline_mean")
    return metrics_for("regression", y, score, baseline=float(y.mean() if baseline is None else baseline))


def _worsening(metric: str, champion: float, now: float) -> float:
    """How much worse ``now`` is than ``champion``: an absolute drop, or for an error a relative rise."""
    if metric not in LOWER_IS_BETTER:
        return champion - now
    if champion > 0:
        return (now - champion) / champion
    return 0.0 if now <= champion else float("inf")


def _common_keys(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Both key columns in one dtype, so an int id logged as a string (or the reverse) still joins."""
    if a.dtype == b.dtype:
        return a.to_numpy(), b.to_numpy()
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
    return a.astype(str).to_numpy(), b.astype(str).to_numpy()
