"""Data and prediction drift of a window of the inference log against the champion's reference.

:func:`check_drift` runs one Evidently 0.7 ``Report`` over the two frames:

* one ``ValueDrift`` per drift-checked feature column, with the method and threshold the spec's
  ``drift:`` section gives its type (or its own override; :mod:`tradewind.monitoring.config`);
* ``DriftedColumnsCount`` over the same columns and methods: the share of drifted features, which
  makes the data set drifted at ``drift_share`` or more (Evidently's rule);
* a ``ValueDrift`` on the model's output when both frames have it (prediction drift), which by
  default also makes the data set drifted. What is compared depends on the task
  (:func:`prediction_check`): a binary model's ``score`` (numerical, ``drift.prediction``'s method); a
  multiclass model's ``predicted_class`` (categorical: the distribution of the predicted classes, with
  the method of categorical features, ``drift.methods.categorical``); a regression model's value
  (numerical, ``drift.prediction``'s method), which the log keeps as ``score`` and the reference as
  ``prediction``.

Besides, a categorical feature whose window holds more than ``max_unknown_category_share`` of values
outside the spec's categories (values the model never saw in training: the synthetic source's
``new_category_share``) is flagged and makes the data set drifted, however few features moved.

Each column's verdict is Evidently's own (the report's tests: a distance at or above its threshold,
a p-value below it). Sample sizes are handled before Evidently sees anything: a window (or reference)
below ``min_window_rows`` gives a *skipped* result with the reason and no Evidently call, and each
frame above ``max_rows`` is sampled down, seeded, which the result records.

:func:`write_report` stores the Evidently HTML report and the JSON summary; :meth:`DriftResult.table`
is the compact per-feature table for a task log. Evidently is imported when a check runs, not here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd

from tradewind.data.pii import pii_columns
from tradewind.data.spec import DatasetSpec
from tradewind.data.target import PREDICTED_CLASS_COLUMN, PREDICTION_COLUMN, SCORE_COLUMN
from tradewind.monitoring.config import METHODS, ColumnCheck, DriftConfig, Kind, drift_config
from tradewind.monitoring.reference import conform_reference, reference_info, sample_rows
from tradewind.monitoring.window import Window
from tradewind.storage import LakePath, as_path, atomic_write_text, uri

if TYPE_CHECKING:
    from tradewind.monitoring.performance import PerformanceResult

log = logging.getLogger(__name__)
# Personal data (a spec's pii columns) is never compared: the report would carry its values.
PII_NOTE: Final = "personal data (pii): not compared"

Status = Literal["drift", "no_drift", "skipped"]
HTML_REPORT: Final = "drift_report.html"
JSON_SUMMARY: Final = "drift_summary.json"


@dataclass(frozen=True)
class FeatureDrift:
    """One feature column's comparison (``checked=False``: not compared, ``note`` says why)."""

    column: str
    type: str
    method: str | None
    threshold: float | None
    score: float | None
    drifted: bool
    test: str | None = None  # "distance" (drifted at >= threshold) or "p_value" (drifted below it)
    checked: bool = True
    note: str | None = None
    unknown_share: float | None = None  # categorical: share of window values outside the spec's categories
    unknown_drifted: bool = False  # unknown_share above drift.max_unknown_category_share


@dataclass(frozen=True)
class PredictionDrift:
    column: str
    method: str
    threshold: float
    score: float
    drifted: bool
    counts_as_drift: bool
    kind: Kind = "numerical"  # categorical: a multiclass model's predicted class


@dataclass(frozen=True)
class PredictionCheck:
    """What prediction drift compares for a task: a column of both frames, its kind, method and threshold."""

    column: str
    kind: Kind
    method: str
    threshold: float


def prediction_check(spec: DatasetSpec, config: DriftConfig) -> PredictionCheck:
    """The model output a task's prediction drift compares (see the module doc)."""
    pred = config.prediction
    if spec.task == "multiclass":
        cat = config.methods.categorical
        method = cat.method or "jensenshannon"
        threshold = cat.threshold if cat.threshold is not None else METHODS[method].default_threshold
        return PredictionCheck(PREDICTED_CLASS_COLUMN, "categorical", method, threshold)
    column = PREDICTION_COLUMN if spec.task == "regression" else SCORE_COLUMN
    return PredictionCheck(column, "numerical", pred.method, pred.resolved_threshold)


def prediction_frame(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """``frame`` (the inference log's rows, or a reference) with the task's prediction column as
    :func:`prediction_check` names it: a regression log's ``score`` as ``prediction``; a multiclass
    ``predicted_class`` as text (the log types it as the label, a reference holds the label's values)."""
    if spec.task == "regression" and PREDICTION_COLUMN not in frame.columns and SCORE_COLUMN in frame.columns:
        return frame.rename(columns={SCORE_COLUMN: PREDICTION_COLUMN})
    if spec.task == "multiclass" and PREDICTED_CLASS_COLUMN in frame.columns:
        classes = frame[PREDICTED_CLASS_COLUMN].astype(object)
        return frame.assign(**{PREDICTED_CLASS_COLUMN: classes.where(classes.isna(), classes.astype(str))})
    return frame


@dataclass
class DriftResult:
    """The outcome of one drift check; :meth:`to_json` is its summary (the snapshot is not part of it)."""

    dataset: str
    status: Status
    drifted: bool
    reason: str | None
    share: float | None
    drifted_count: int
    checked_count: int
    drift_share: float
    features: list[FeatureDrift]
    prediction: PredictionDrift | None
    window: dict[str, Any]
    reference: dict[str, Any]
    sampling: dict[str, Any]
    checked_at: str
    evidently_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    report: dict[str, str] = field(default_factory=dict)  # filled by write_report: html / json URIs
    snapshot: Any = field(default=None, repr=False, compare=False)  # the Evidently Snapshot (None: skipped)

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def drifted_features(self) -> list[str]:
        """Features whose distribution drifted, or which hold too many unseen categories."""
        return [f.column for f in self.features if f.drifted or f.unknown_drifted]

    @property
    def unknown_categories(self) -> dict[str, float]:
        """Categorical features above the unseen-category bound, with their share of unseen values."""
        return {f.column: f.unknown_share for f in self.features if f.unknown_drifted and f.unknown_share is not None}

    def to_dict(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict would deep-copy the Evidently snapshot only to drop it.
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "snapshot"}
        out["features"] = [asdict(f) for f in self.features]
        out["prediction"] = None if self.prediction is None else asdict(self.prediction)
        out["drifted_features"] = self.drifted_features
        return _json_ready(out)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, default=str)

    def event_extra(self) -> dict[str, Any]:
        """Small, JSON-ready facts for an Asset event: drifted features, share, window, report path."""
        return _json_ready({
            "dataset": self.dataset,
            "status": self.status,
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "share": self.share,
            "drift_share": self.drift_share,
            "prediction_drift": None if self.prediction is None else self.prediction.drifted,
            "window": {k: self.window.get(k) for k in ("start", "end", "rows_seen", "rows_kept") if k in self.window},
            "report": self.report.get("html") or self.report.get("json"),
            "reason": self.reason,
        })  # fmt: skip

    def headline(self) -> str:
        if self.skipped:
            return f"drift check {self.dataset}: skipped: {self.reason}"
        verdict = "DRIFT" if self.drifted else "no drift"
        share = self.share if self.share is not None else 0.0
        rule = ">=" if share >= self.drift_share else "<"
        text = (
            f"drift check {self.dataset}: {verdict} ({self.drifted_count}/{self.checked_count} features drifted, "
            f"share {share:.2f} {rule} {self.drift_share:.2f})"
        )
        if self.prediction is not None:
            p = self.prediction
            text += f"; prediction drift {'yes' if p.drifted else 'no'} ({p.method} {_fmt(p.score)} vs {p.threshold:g})"
        if self.unknown_categories:
            shares = ", ".join(f"{c} {v:.1%}" for c, v in self.unknown_categories.items())
            text += f"; unseen categories: {shares}"
        return text

    def table(self) -> str:
        """A compact per-feature table for the task log."""
        lines = [self.headline()]
        w = self.window
        if w:
            span = f"{w.get('start', '?')} .. {w.get('end', '?')}" if "start" in w else "given frame"
            lines.append(f"window {span}: {w.get('rows_seen', '?')} row(s) seen, {w.get('rows_kept', '?')} kept")
        for side in ("current", "reference"):
            s = self.sampling.get(side)
            if s:
                how = f"sampled to {s['rows_used']} (seed {self.sampling.get('seed')})" if s["sampled"] else "all used"
                lines.append(f"{side}: {s['rows']} row(s), {how}")
        if self.skipped:
            return "\n".join(lines)
        rows = [("column", "type", "method", "threshold", "score", "drifted")]
        for f in self.features:
            mark = "DRIFT" if f.drifted else ("-" if f.checked else f"not checked: {f.note}")
            if f.unknown_drifted and f.unknown_share is not None:
                mark += f" (unseen categories {f.unknown_share:.1%})"
            threshold = "-" if f.threshold is None else f"{f.threshold:g}"
            rows.append((f.column, f.type, f.method or "-", threshold, _fmt(f.score), mark))
        if self.prediction is not None:
            p = self.prediction
            kind = "numeric" if p.kind == "numerical" else p.kind
            rows.append((
                f"{p.column} (prediction)", kind, p.method, f"{p.threshold:g}", _fmt(p.score),
                "DRIFT" if p.drifted else "-",
            ))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines += ["  ".join(c.ljust(widths[i]) if i < 5 else c for i, c in enumerate(r)).rstrip() for r in rows]
        return "\n".join(lines)


def check_drift(  # noqa: C901  (one pass over the comparable features: each branch is a reason a feature is not judged)
    reference: pd.DataFrame,
    current: pd.DataFrame | Window,
    spec: DatasetSpec,
    config: DriftConfig | None = None,
    *,
    window: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> DriftResult:
    """Compare ``current`` (a frame or a :class:`Window` of the inference log) with ``reference``.

    ``config``: default the spec's ``drift:`` settings. ``window``: facts about the window to record
    (taken from a :class:`Window` when one is given). ``extra``: anything to carry into the summary
    (model version, reference path, run ids).
    """
    config = config or drift_config(spec)
    checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if isinstance(current, Window):
        window_info = {**current.info(), **(window or {})}
        frame = current.frame
        empty_reason = current.reason
    else:
        frame, empty_reason = current, None
        window_info = {"rows_seen": len(frame), "rows_kept": len(frame), **(window or {})}
    frame = prediction_frame(frame, spec)
    reference = prediction_frame(conform_reference(reference, spec), spec)
    ref_info = {"rows": len(reference), **reference_info(reference)}
    personal = pii_columns(spec)
    checks = [c for c in config.checks(spec) if c.column not in personal]
    base: dict[str, Any] = {
        "dataset": spec.name,
        "drift_share": config.drift_share,
        "window": window_info,
        "reference": ref_info,
        "checked_at": checked_at,
        "extra": dict(extra or {}),
    }

    def skipped(reason: str, sampling: dict[str, Any] | None = None, features: list[FeatureDrift] | None = None):
        log.info("Drift check %s skipped: %s", spec.name, reason)
        return DriftResult(
            status="skipped", drifted=False, reason=reason, share=None, drifted_count=0, checked_count=0,
            features=features or [], prediction=None, sampling=sampling or {}, evidently_version=_evidently_version(),
            **base,
        )  # fmt: skip

    if len(frame) < config.min_window_rows:
        why = empty_reason or f"{len(frame)} row(s) in the window, below min_window_rows {config.min_window_rows}"
        return skipped(why)
    if len(reference) < config.min_window_rows:
        return skipped(f"{len(reference)} row(s) in the reference, below min_window_rows {config.min_window_rows}")

    sampling = {
        "max_rows": config.max_rows,
        "seed": config.seed,
        "method": "uniform without replacement",
        # The rows the window held before the reader's own (seeded) sampling, when it sampled.
        "current": _sampling(int(window_info.get("rows_seen") or len(frame)), min(config.max_rows, len(frame))),
        "reference": _sampling(len(reference), config.max_rows),
    }
    if window_info.get("sampled"):
        sampling["window"] = {"rows_seen": window_info.get("rows_seen"), "rows_kept": window_info.get("rows_kept")}
    cur = sample_rows(frame, config.max_rows, config.seed)
    ref = sample_rows(reference, config.max_rows, config.seed + 1)

    minimum = config.min_window_rows
    usable, notes = _usable(checks, cur, ref, minimum)
    unchecked = {**config.unchecked(spec), **notes, **{c: PII_NOTE for c in personal if c in spec.feature_columns}}
    pred, output = config.prediction, prediction_check(spec, config)
    gap = _too_few_values(output.column, cur, ref, minimum) if pred.enabled else None
    with_prediction = pred.enabled and gap is None
    if gap is not None:
        sampling["prediction"] = f"not checked, '{output.column}': {gap}"
    features_unchecked = [
        FeatureDrift(column=c, type=spec.columns[c].type.value, method=None, threshold=None, score=None,
                     drifted=False, checked=False, note=why)
        for c, why in unchecked.items()
    ]  # fmt: skip
    if not usable:
        return skipped(
            f"no feature column has at least {minimum} values in both the window and the reference",
            sampling,
            features_unchecked,
        )

    snapshot = _run_evidently(cur, ref, usable, config, output if with_prediction else None)
    parsed = _parse(snapshot)
    by_column = {c.column: c for c in usable}
    features: list[FeatureDrift] = []
    for name in spec.feature_columns:
        if name in by_column:
            c = by_column[name]
            score, drifted = parsed.columns[name]
            unknown = _unknown_share(cur[name], spec.columns[name].categories) if c.type == "categorical" else None
            bound = config.max_unknown_category_share
            features.append(FeatureDrift(
                name, c.type, c.method, c.threshold, score, drifted, test=c.test, unknown_share=unknown,
                unknown_drifted=unknown is not None and bound is not None and unknown > bound,
            ))  # fmt: skip
        elif name in unchecked:
            features.append(next(f for f in features_unchecked if f.column == name))
    prediction = None
    if with_prediction:
        score, drifted = parsed.columns[output.column]
        prediction = PredictionDrift(
            output.column, output.method, output.threshold, score, drifted, pred.counts_as_drift, output.kind
        )
    count = sum(f.drifted for f in features)
    share = parsed.share if parsed.share is not None else count / len(usable)
    if parsed.count is not None and parsed.count != count:  # the two Evidently metrics disagree: say so
        log.warning("Evidently counted %s drifted column(s), its per-column tests %d", parsed.count, count)
    data_drift = share >= config.drift_share
    unseen = any(f.unknown_drifted for f in features)
    drifted = data_drift or unseen or (prediction is not None and prediction.drifted and prediction.counts_as_drift)
    result = DriftResult(
        status="drift" if drifted else "no_drift", drifted=drifted, reason=None, share=share,
        drifted_count=count, checked_count=len(usable), features=features, prediction=prediction,
        sampling=sampling, evidently_version=_evidently_version(), snapshot=snapshot, **base,
    )  # fmt: skip
    log.info("%s", result.headline())
    return result


@dataclass(frozen=True)
class ReportFiles:
    json: str
    html: str | None


def write_report(
    result: DriftResult,
    snapshot: Any,
    folder: str | LakePath,
    *,
    performance: PerformanceResult | None = None,
) -> ReportFiles:
    """Store the Evidently HTML report (when there is a snapshot) and the JSON summary in ``folder``.

    Both files are written atomically (any fsspec folder). ``snapshot`` defaults to the result's own;
    a skipped check has none and writes the JSON summary only. ``performance``: a labels-based check
    to include in the summary. The result's ``report`` gets the files' URIs."""
    target = as_path(folder)
    snapshot = snapshot if snapshot is not None else result.snapshot
    html = None
    if snapshot is not None:
        path = target / HTML_REPORT
        atomic_write_text(path, snapshot.get_html_str(as_iframe=False))
        html = uri(path)
    summary_path = target / JSON_SUMMARY
    result.report = {"json": uri(summary_path), **({"html": html} if html else {})}
    summary = result.to_dict()
    if performance is not None:
        summary["performance"] = performance.to_dict()
    atomic_write_text(summary_path, json.dumps(summary, indent=2, sort_keys=True, default=str))
    log.info("Drift report of %s written to %s", result.dataset, html or uri(summary_path))
    return ReportFiles(json=uri(summary_path), html=html)


# -- internals ------------------------------------------------------------------------------------


def _sampling(rows: int, max_rows: int) -> dict[str, Any]:
    used = min(rows, max_rows)
    return {"rows": rows, "rows_used": used, "sampled": used < rows}


def _unknown_share(values: pd.Series, categories: tuple[str, ...] | None) -> float | None:
    """Share of the non-null ``values`` outside ``categories`` (None without categories or values)."""
    if not categories:
        return None
    present = values.dropna()
    if present.empty:
        return None
    if isinstance(present.dtype, pd.CategoricalDtype):  # count per category, not per row
        counts = present.value_counts()
        return float(counts[~counts.index.isin(categories)].sum() / len(present))
    return float((~present.isin(categories)).mean())


def _value_count(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].notna().sum()) if column in frame.columns else 0


def _too_few_values(column: str, cur: pd.DataFrame, ref: pd.DataFrame, minimum: int) -> str | None:
    """Why ``column`` cannot be compared (None: it can): a side without values, or with fewer than
    ``minimum`` of them, which a distance or test over so few values would alarm on by chance."""
    counts = {side: _value_count(f, column) for side, f in (("window", cur), ("reference", ref))}
    empty = [side for side, n in counts.items() if n == 0]
    if empty:
        return f"no values in the {' and the '.join(empty)}"
    few = [f"{n} in the {side}" for side, n in counts.items() if n < minimum]
    if few:
        return f"too few values ({', '.join(few)}; min_window_rows {minimum})"
    return None


def _usable(
    checks: list[ColumnCheck], cur: pd.DataFrame, ref: pd.DataFrame, minimum: int
) -> tuple[list[ColumnCheck], dict[str, str]]:
    """The checks both frames can feed with at least ``minimum`` values each, and why the others cannot."""
    usable, notes = [], {}
    for c in checks:
        gap = _too_few_values(c.column, cur, ref, minimum)
        if gap is not None:
            notes[c.column] = gap
        elif c.kind == "numerical" and not all(pd.api.types.is_numeric_dtype(f[c.column]) for f in (cur, ref)):
            notes[c.column] = "not numeric in the window or the reference"
        else:
            usable.append(c)
    return usable, notes


def _frame_for(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` restricted to ``columns`` (itself, with no copy, when it holds exactly those)."""
    wanted = set(columns)
    if set(frame.columns) == wanted and len(frame.columns) == len(wanted):
        return frame
    return frame[[c for c in frame.columns if c in wanted]]


def _run_evidently(
    cur: pd.DataFrame, ref: pd.DataFrame, checks: list[ColumnCheck], config: DriftConfig, output: PredictionCheck | None
) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    names = [c.column for c in checks]
    kinds = {c.column: c.kind for c in checks} | ({output.column: output.kind} if output else {})
    numerical = [name for name, kind in kinds.items() if kind == "numerical"]
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    definition = DataDefinition(
        numerical_columns=numerical, categorical_columns=categorical,
        datetime_columns=[], text_columns=[], unknown_columns=[], list_columns=[],
    )  # fmt: skip
    columns = list(kinds)
    current = Dataset.from_pandas(_frame_for(cur, columns), data_definition=definition)
    reference = Dataset.from_pandas(_frame_for(ref, columns), data_definition=definition)
    metrics: list[Any] = [
        DriftedColumnsCount(
            columns=names,
            per_column_method={c.column: c.method for c in checks},
            per_column_threshold={c.column: c.threshold for c in checks},
            drift_share=config.drift_share,
        ),
        *(ValueDrift(column=c.column, method=c.method, threshold=c.threshold) for c in checks),
    ]
    if output is not None:
        metrics.append(ValueDrift(column=output.column, method=output.method, threshold=output.threshold))
    return Report(metrics, include_tests=True).run(current, reference)


@dataclass
class _Parsed:
    columns: dict[str, tuple[float, bool]]
    count: int | None
    share: float | None


def _parse(snapshot: Any) -> _Parsed:
    """Per-column scores and verdicts, and the drifted count and share, from ``snapshot.dict()``."""
    data = snapshot.dict()
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data.get("tests", []) if t.get("metric_config")}
    out = _Parsed(columns={}, count=None, share=None)
    for metric in data["metrics"]:
        cfg = metric.get("config", {})
        kind = str(cfg.get("type", ""))
        value = metric.get("value")
        if kind.endswith(":DriftedColumnsCount"):
            out.count, out.share = int(value["count"]), float(value["share"])
        elif kind.endswith(":ValueDrift"):
            score = float(value)
            verdict = status.get(metric["id"])
            if verdict is None:  # no test result: apply the method's rule
                rule = METHODS[cfg["method"]].test
                drifted = score < cfg["threshold"] if rule == "p_value" else score >= cfg["threshold"]
            else:
                drifted = str(verdict).upper().endswith("FAIL")
            out.columns[cfg["column"]] = (score, bool(drifted))
    return out


def _evidently_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evidently")
    except PackageNotFoundError:  # pragma: no cover
        return None


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.3g}"
    return f"{value:.4f}"


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
