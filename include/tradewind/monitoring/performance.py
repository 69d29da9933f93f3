"""Performance drift: once labels arrive, the logged scores against the champion's validation metrics.

A labels feed is a frame of the spec's id column and its label (for transactions: ``transaction_id``
and ``is_fraud``), arriving hours or days after the requests were scored. :func:`join_labels` joins it
to the inference log (which keeps the spec's columns except the label, so the id is there):

* a record scored more than once (a retry) counts once: its latest scoring (by ``served_at`` when the
  frame has it, else its last row);
* an id labelled twice with the same label counts once; an id with conflicting labels is dropped;
* labels without a logged record, and records without a label yet, are counted, not joined;
* rows without a usable score (missing, NaN, outside [0, 1]) or label (not 0/1) are dropped and counted.

:func:`check_performance` computes PR-AUC and ROC-AUC of the joined scores
(:func:`tradewind.evaluation.evaluate`, the same code as the training holdout) and reports a
drift when one of them is below the champion's validation value by more than ``drift.performance.
max_drop``; below ``min_labelled_rows`` labelled rows or ``min_positives`` positives it is skipped.
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
from tradewind.monitoring.config import DriftConfig, drift_config
from tradewind.monitoring.window import Window

log = logging.getLogger(__name__)

Status = Literal["drift", "no_drift", "skipped"]
EPS: Final = 1e-9  # a drop equal to the bound as written is allowed


@dataclass(frozen=True)
class LabelJoin:
    """The scored records that have a label, and the bookkeeping of the join."""

    frame: pd.DataFrame  # columns: <id>, score, <label>
    log_rows: int
    label_rows: int
    matched: int
    unlabelled: int  # logged records (unique ids) without a label yet
    unmatched_labels: int  # labelled ids with no logged record
    duplicate_log_ids: int  # extra scorings of an id (kept: the latest)
    duplicate_label_ids: int  # ids labelled more than once with the same label (kept once)
    conflicting_label_ids: int  # ids labelled both 0 and 1 (dropped)
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
    positives: int
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
            + f" ({self.rows} labelled row(s), {self.positives} positive(s))",
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
    cols = [key, score_column, *(["served_at"] if "served_at" in frame.columns else [])]
    scored = frame[cols].dropna(subset=[key])
    if "served_at" in scored.columns:
        scored = scored.sort_values("served_at", kind="stable")
    unique = scored.drop_duplicates(subset=[key], keep="last")
    duplicate_log_ids = len(scored) - len(unique)
    score = pd.to_numeric(unique[score_column], errors="coerce")
    valid_score = score.notna() & (score >= 0) & (score <= 1)
    invalid_scores = int((~valid_score).sum())
    unique = pd.DataFrame({key: unique[key].to_numpy(), score_column: score.to_numpy()})[valid_score.to_numpy()]

    # Labels: 0/1, one per id; an id labelled both ways is dropped.
    raw = labels[[key, label]].dropna(subset=[key])
    values = pd.to_numeric(raw[label].astype("object").map({True: 1, False: 0}).fillna(raw[label]), errors="coerce")
    valid_label = values.isin((0, 1))
    invalid_labels = int((~valid_label).sum())
    raw = pd.DataFrame({key: raw[key].to_numpy(), label: values.to_numpy()})[valid_label.to_numpy()]
    distinct = raw.drop_duplicates()
    per_id = distinct.groupby(key, sort=False)[label].nunique()
    conflicting = per_id.index[per_id > 1]
    duplicate_label_ids = int(len(raw) - len(distinct))
    clean = distinct[~distinct[key].isin(conflicting)]
    clean = clean.astype({label: np.int64})

    unique_key, clean_key = _common_keys(unique[key], clean[key])
    joined = (
        pd.DataFrame({key: unique_key, score_column: unique[score_column].to_numpy()})
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
    """PR-AUC / ROC-AUC of the logged scores on labelled records against ``champion_metrics``.

    ``champion_metrics``: the champion's validation metrics, e.g. ``{"pr_auc": 0.31, "roc_auc": 0.9}``
    (other keys are ignored). ``log_rows`` may be a :class:`LabelJoin` already made (then ``labels``
    is not used)."""
    from tradewind.evaluation import evaluate

    settings = (config or drift_config(spec)).performance
    if isinstance(log_rows, LabelJoin):
        joined = log_rows
    elif labels is None:
        raise ValueError("labels are needed unless a LabelJoin is given")
    else:
        joined = join_labels(log_rows, labels, spec, score_column=score_column)
    frame = joined.frame
    rows, positives = len(frame), int(frame[spec.label].sum()) if len(frame) else 0
    base: dict[str, Any] = {
        "dataset": spec.name,
        "rows": rows,
        "positives": positives,
        "join": joined.counts(),
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "extra": dict(extra or {}),
    }
    compared = {m: b for m, b in settings.max_drop.items() if champion_metrics.get(m) is not None}

    def skipped(reason: str) -> PerformanceResult:
        log.info("Performance check %s skipped: %s", spec.name, reason)
        return PerformanceResult(status="skipped", drifted=False, reason=reason, metrics={}, comparisons=[], **base)

    if not compared:
        return skipped(f"the champion's metrics have none of {', '.join(settings.max_drop)}")
    if rows < settings.min_labelled_rows:
        return skipped(f"{rows} labelled row(s), below min_labelled_rows {settings.min_labelled_rows}")
    if positives < settings.min_positives:
        return skipped(
            f"{positives} positive(s) in {rows} labelled row(s), below min_positives {settings.min_positives}"
        )
    if positives == rows:
        return skipped(f"all {rows} labelled row(s) are positive")

    metrics = evaluate(frame[spec.label].to_numpy(), frame[score_column].to_numpy())
    current: dict[str, float | None] = {str(m): metrics.get(m) for m in settings.max_drop}
    comparisons = []
    for metric, bound in compared.items():
        champion = float(champion_metrics[metric])  # type: ignore[arg-type]
        now = current.get(metric)
        if now is None:
            note = metrics.get("undefined", {}).get(metric, "not computable")
            comparisons.append(MetricComparison(metric, champion, None, None, bound, False, note))
            continue
        drop = champion - float(now)
        comparisons.append(MetricComparison(metric, champion, float(now), drop, bound, drop > bound + EPS))
    drifted = any(c.drifted for c in comparisons)
    result = PerformanceResult(
        status="drift" if drifted else "no_drift", drifted=drifted, reason=None, metrics=current,
        comparisons=comparisons, **base,
    )  # fmt: skip
    log.info("%s", result.table().splitlines()[0])
    return result


def _common_keys(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Both key columns in one dtype, so an int id logged as a string (or the reverse) still joins."""
    if a.dtype == b.dtype:
        return a.to_numpy(), b.to_numpy()
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
    return a.astype(str).to_numpy(), b.astype(str).to_numpy()
