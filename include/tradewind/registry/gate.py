"""The promotion gate and retrain governance: pure functions over metric dicts and a config.

No MLflow here: the gate decides, :mod:`tradewind.registry.aliases` acts, and
:func:`tradewind.registry.versions.record_decision` writes the verdict on the version. Keeping the
decision pure makes it table-testable and lets the Airflow layer log it before anything moves.

The gate is per task (binary, multiclass, regression): each ranks models by its primary metric in
that metric's direction (:data:`tradewind.evaluation.PRIMARY_METRICS` by default), and a data set may
override its task's rules (``datasets:`` in ``promotion.yaml``). Rules (every failing one adds a
reason naming the metric, the figures and the bound; every passing one a note):

- data: ``training_rows >= min_training_rows`` and the holdout's size ``>= min_holdout_size``
  (binary: positives, ``min_holdout_positives``; multiclass: the smallest class's rows; regression: rows);
- calibration: the task's calibration figure (binary ``ece``, multiclass ``top_label_ece``)
  ``<= max_calibration_error`` (binary: ``max_ece``); regression has none, which the notes say;
- first model ever (no champion): every ``floors`` metric at least (higher is better) or at most
  (lower is better) its bound, and for regression ``rmse < baseline_rmse * (1 - baseline_min_improvement)``
  -> action ``champion``;
- otherwise non-inferiority on the primary metric against the champion on the same rows
  (``candidate >= champion - margin``, or ``<= champion + margin`` for a lower-is-better metric; a
  ``relative`` margin is a share of the champion's figure) and the same per segment with
  ``segment_max_regression``, for every segment the champion has that is big enough
  (``min_segment_size``, measured like the holdout's size) -> ``challenger``.

A metric that is missing or not a finite number fails its rule: the gate never passes on absence.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from pydantic import Field, ValidationError, field_validator, model_validator

from tradewind.config import (
    CONFIG_DIR,
    ConfigError,
    StrictModel,
    deep_merge,
    format_problems,
    parse_config,
    read_yaml,
    validation_problems,
)
from tradewind.evaluation import PRIMARY_METRICS, TASKS, Task

# "lost": passed, but another promotion set the alias first (see registry.promotion).
Action = Literal["champion", "challenger", "reject", "lost"]
Direction = Literal["higher", "lower"]
DAY = dt.timedelta(hours=24)
# Bounds like ``champion - margin`` are computed in floating point (0.42 - 0.01 = 0.41000000000000003);
# a figure equal to the bound as written must pass, so comparisons allow this much slack.
EPS = 1e-9
CONFIG_FILE = "promotion.yaml"
WHAT = "promotion config"

# The figures of tradewind.evaluation.metrics_for a gate may rank by or bound, and which way is better.
METRICS: Mapping[Task, Mapping[str, Direction]] = {
    "binary": {
        "pr_auc": "higher",
        "roc_auc": "higher",
        "recall_at_precision": "higher",
        "log_loss": "lower",
        "ece": "lower",
    },
    "multiclass": {"macro_f1": "higher", "accuracy": "higher", "log_loss": "lower", "top_label_ece": "lower"},
    "regression": {"rmse": "lower", "mae": "lower", "r2": "higher"},
}


class RetrainPolicy(StrictModel):
    cooldown_minutes: float = Field(default=60, ge=0)
    max_retrains_per_day: int = Field(default=4, ge=1)
    skip_unchanged_data: bool = True


def _metric_problem(task: Task, metric: str) -> str | None:
    if metric in METRICS[task]:
        return None
    return f"{metric!r} is not a {task} metric: use one of {', '.join(sorted(METRICS[task]))}"


def _rule_problems(task: Task, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with a task's rules (``values``: the keys given), as ``(key, why)``."""
    problems = []
    primary = values.get("primary_metric")
    if primary is not None and (why := _metric_problem(task, primary)):
        problems.append(("primary_metric", why))
    elif primary is not None and values.get("direction") not in (None, METRICS[task][primary]):
        problems.append(
            (
                "direction",
                f"{primary} is {METRICS[task][primary]}-is-better, not {values['direction']}: "
                f"set direction: {METRICS[task][primary]} or leave it out",
            )
        )
    for metric in sorted(values.get("floors") or {}):
        if why := _metric_problem(task, metric):
            problems.append((f"floors.{metric}", why))
    if PRIMARY_METRICS[task].calibration is None and values.get("max_calibration_error") is not None:
        problems.append(("max_calibration_error", f"task {task} has no calibration figure: leave it out"))
    if task != "regression" and values.get("baseline_min_improvement") is not None:
        problems.append(("baseline_min_improvement", f"only a regression has a mean baseline, not task {task}"))
    return problems


class TaskGate(StrictModel):
    """One task's gate, resolved: the task's defaults with its data set's overrides applied."""

    TASK: ClassVar[Task] = "binary"
    # Key names in promotion.yaml's binary (top-level) section, which predate the other tasks.
    NAMES: ClassVar[Mapping[str, str]] = {}

    primary_metric: str = "pr_auc"
    direction: Direction | None = None  # the primary metric's; optional, checked when given
    margins: Literal["absolute", "relative"] = "absolute"
    non_inferiority_margin: float = Field(default=0.01, ge=0)
    min_training_rows: int = Field(default=1000, ge=0)
    min_holdout_size: int = Field(default=20, ge=0)
    segment_max_regression: float = Field(default=0.05, ge=0)
    min_segment_size: int = Field(default=30, ge=1)
    max_calibration_error: float | None = Field(default=0.05, gt=0)  # None: calibration not judged
    baseline_min_improvement: float | None = Field(default=None, ge=0, lt=1)
    floors: dict[str, float] = Field(default_factory=lambda: {"pr_auc": 0.1, "roc_auc": 0.7})

    @model_validator(mode="after")
    def _fits_the_task(self) -> TaskGate:
        problems = _rule_problems(self.TASK, self.model_dump())
        if problems:
            raise ValueError("; ".join(f"{key}: {why}" for key, why in problems))
        return self

    @property
    def task(self) -> Task:
        return self.TASK

    @property
    def calibration(self) -> str | None:
        return PRIMARY_METRICS[self.TASK].calibration

    def name(self, key: str) -> str:
        """A setting's key as written in ``promotion.yaml`` (binary keeps its older names)."""
        return self.NAMES.get(key, key)

    def direction_of(self, metric: str) -> Direction:
        return METRICS[self.TASK][metric]


class BinaryGate(TaskGate):
    TASK: ClassVar[Task] = "binary"
    NAMES: ClassVar[Mapping[str, str]] = {
        "min_holdout_size": "min_holdout_positives",
        "min_segment_size": "min_segment_positives",
        "max_calibration_error": "max_ece",
    }


class MulticlassGate(TaskGate):
    TASK: ClassVar[Task] = "multiclass"
    primary_metric: str = "macro_f1"
    min_holdout_size: int = Field(default=10, ge=0)
    # A model that predicts one class only has a macro-F1 below 1/3 with three classes or more.
    floors: dict[str, float] = Field(default_factory=lambda: {"macro_f1": 0.34})


class RegressionGate(TaskGate):
    TASK: ClassVar[Task] = "regression"
    primary_metric: str = "rmse"
    margins: Literal["absolute", "relative"] = "relative"  # the target's unit differs per data set
    non_inferiority_margin: float = Field(default=0.02, ge=0)
    min_holdout_size: int = Field(default=100, ge=0)
    segment_max_regression: float = Field(default=0.1, ge=0)
    min_segment_size: int = Field(default=100, ge=1)
    max_calibration_error: float | None = Field(default=None, gt=0)
    baseline_min_improvement: float | None = Field(default=0.05, ge=0, lt=1)
    floors: dict[str, float] = Field(default_factory=dict)


GATES: Mapping[Task, type[TaskGate]] = {
    "binary": BinaryGate,
    "multiclass": MulticlassGate,
    "regression": RegressionGate,
}


class DatasetGate(StrictModel):
    """A data set's changes to its task's gate; a key left out keeps the task's value.

    ``task``, when given, is checked against the data set's spec and lets the file be checked for
    that task alone at load (without it, the keys must fit some task)."""

    task: Task | None = None
    primary_metric: str | None = None
    direction: Direction | None = None
    margins: Literal["absolute", "relative"] | None = None
    non_inferiority_margin: float | None = Field(default=None, ge=0)
    min_training_rows: int | None = Field(default=None, ge=0)
    min_holdout_size: int | None = Field(default=None, ge=0)
    segment_max_regression: float | None = Field(default=None, ge=0)
    min_segment_size: int | None = Field(default=None, ge=1)
    max_calibration_error: float | None = Field(default=None, gt=0)
    baseline_min_improvement: float | None = Field(default=None, ge=0, lt=1)
    floors: dict[str, float] | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"task"})


class GateConfig(StrictModel):
    # The binary gate, at the top level as it always was (a spec without ``task`` is binary).
    primary_metric: str = "pr_auc"
    non_inferiority_margin: float = Field(default=0.01, ge=0)
    min_training_rows: int = Field(default=1000, ge=0)
    min_holdout_positives: int = Field(default=20, ge=0)
    segment_max_regression: float = Field(default=0.05, ge=0)
    min_segment_positives: int = Field(default=30, ge=1)
    max_ece: float = Field(default=0.05, gt=0)
    floors: dict[str, float] = Field(default_factory=lambda: {"pr_auc": 0.1, "roc_auc": 0.7})
    multiclass: MulticlassGate = MulticlassGate()
    regression: RegressionGate = RegressionGate()
    datasets: dict[str, DatasetGate] = Field(default_factory=dict)
    retrain: RetrainPolicy = RetrainPolicy()

    @field_validator("primary_metric")
    @classmethod
    def _binary_primary(cls, metric: str) -> str:
        if why := _metric_problem("binary", metric):
            raise ValueError(why)
        return metric

    @field_validator("floors")
    @classmethod
    def _binary_floors(cls, floors: dict[str, float]) -> dict[str, float]:
        problems = [f"{m}: {why}" for m in sorted(floors) if (why := _metric_problem("binary", m))]
        if problems:
            raise ValueError("; ".join(problems))
        return floors

    def task_gate(self, task: Task) -> TaskGate:
        """A task's gate before any data set's overrides."""
        if task == "multiclass":
            return self.multiclass
        if task == "regression":
            return self.regression
        return BinaryGate(
            primary_metric=self.primary_metric,
            non_inferiority_margin=self.non_inferiority_margin,
            min_training_rows=self.min_training_rows,
            min_holdout_size=self.min_holdout_positives,
            segment_max_regression=self.segment_max_regression,
            min_segment_size=self.min_segment_positives,
            max_calibration_error=self.max_ece,
            floors=self.floors,
        )

    def rules(self, task: str, dataset: str | None = None) -> TaskGate:
        """The gate a data set's candidates face: its task's rules with its ``datasets:`` changes.

        Raises :class:`GateConfigError` for an unknown task, or when the data set's changes do not
        fit its task (a metric of another task, ``task:`` not the spec's)."""
        if task not in TASKS:
            raise GateConfigError(f"{WHAT}: task must be one of {', '.join(TASKS)}, got {task!r}")
        checked = cast(Task, task)
        override = self.datasets.get(dataset) if dataset is not None else None
        if override is None:
            return self.task_gate(checked)
        if override.task is not None and override.task != checked:
            raise GateConfigError(
                f"{WHAT}: datasets.{dataset}.task: says {override.task}, but data set {dataset!r} is task {checked}"
            )
        problems = _override_problems(self.task_gate(checked), override)
        if problems:
            keyed = [(f"datasets.{dataset}.{key}", why) for key, why in problems]
            raise GateConfigError(format_problems(f"{WHAT}: datasets.{dataset} does not fit task {checked}", keyed))
        return GATES[checked].model_validate({**self.task_gate(checked).model_dump(), **override.changes()})


def _override_problems(base: TaskGate, override: DatasetGate) -> list[tuple[str, str]]:
    """What is wrong with ``base`` (a task's gate) once ``override``'s changes are applied."""
    merged = {**base.model_dump(), **override.changes()}
    problems = _rule_problems(base.TASK, merged)
    if problems:
        return problems
    try:
        type(base).model_validate(merged)
    except ValidationError as err:
        return validation_problems(err)
    return []


def _dataset_problems(config: GateConfig) -> list[tuple[str, str]]:
    """Each ``datasets:`` entry checked against its ``task`` or, without one, against every task."""
    problems: list[tuple[str, str]] = []
    for name, override in sorted(config.datasets.items()):
        tasks = [override.task] if override.task else list(TASKS)
        found = {task: _override_problems(config.task_gate(task), override) for task in tasks}
        if all(found.values()):
            for task, task_problems in found.items():
                suffix = "" if override.task else f" (as a {task} data set; set task: to check one task)"
                problems += [(f"datasets.{name}.{key}", why + suffix) for key, why in task_problems]
    return problems


class GateConfigError(ConfigError):
    """``promotion.yaml`` is malformed; the message names the file and the key."""


def parse_gate_config(data: Any, origin: str = "<promotion config>") -> GateConfig:
    config = parse_config(GateConfig, data, origin, WHAT, error=GateConfigError)
    problems = _dataset_problems(config)
    if problems:
        raise GateConfigError(format_problems(f"{origin}: invalid {WHAT}", problems))
    return config


def load_gate_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> GateConfig:
    """Load and check ``promotion.yaml`` (default: ``include/config/promotion.yaml``).

    ``overrides``: keys a profile changes (its ``promotion:`` section), deep-merged on top; an error
    then says the overrides were applied, since the bad key may be the profile's."""
    path = Path(path) if path is not None else CONFIG_DIR / CONFIG_FILE
    raw = read_yaml(path, WHAT, GateConfigError)
    if raw is None:
        raw = {}
    if not overrides:
        return parse_gate_config(raw, origin=str(path))
    if isinstance(raw, Mapping):
        raw = deep_merge(raw, overrides)
    return parse_gate_config(raw, origin=f"{path} (with the profile's promotion: overrides)")


@dataclass(frozen=True)
class Decision:
    passed: bool
    action: Action
    reasons: list[str] = field(default_factory=list)  # every failed rule
    notes: list[str] = field(default_factory=list)  # every rule that passed, for the record


Rule = tuple[bool, str]


def _number(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    value = (metrics or {}).get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _bound(label: str, value: float | None, bound: float, direction: Direction, what: str) -> Rule:
    """``value`` at least (``higher``) or at most (``lower``) ``bound``, with :data:`EPS` slack."""
    at = ">=" if direction == "higher" else "<="
    if value is None:
        return False, f"{label}: missing or not a finite number (needs {at} {bound:.4g}, {what})"
    ok = value >= bound - EPS if direction == "higher" else value <= bound + EPS
    shown = at if ok else {">=": "<", "<=": ">"}[at]
    return ok, f"{label} = {value:.4g} {shown} {bound:.4g} ({what})"


def _at_least(label: str, value: float | None, bound: float, what: str) -> Rule:
    return _bound(label, value, bound, "higher", what)


def _size(task: Task, metrics: Mapping[str, Any] | None) -> tuple[float | None, str]:
    """What a gate counts as the size of a holdout or segment, and how it says it."""
    if task == "binary":
        return _number(metrics, "positives"), "positives"
    if task == "regression":
        return _number(metrics, "rows"), "rows"
    counts = (metrics or {}).get("class_counts")
    if not isinstance(counts, Mapping) or not counts:
        return None, "rows in the smallest class"
    smallest = min(counts, key=lambda name: counts[name])
    return _number(counts, smallest), f"rows in the smallest class ({smallest})"


STAT_KEYS: Mapping[Task, str] = {
    "binary": "holdout_positives",
    "multiclass": "holdout_smallest_class",
    "regression": "holdout_rows",
}


def _data_rules(data_stats: Mapping[str, Any], candidate: Mapping[str, Any], gate: TaskGate) -> list[Rule]:
    """Training rows, and the holdout's size: ``data_stats`` first, else the candidate's metrics."""
    label = STAT_KEYS[gate.task]
    size = _number(data_stats, label)
    if label not in data_stats and gate.task != "binary":
        size, unit = _size(gate.task, candidate)
        label = f"holdout {unit}"
    return [
        _at_least("training_rows", _number(data_stats, "training_rows"), gate.min_training_rows, "min_training_rows"),
        _at_least(label, size, gate.min_holdout_size, gate.name("min_holdout_size")),
    ]


def _calibration_rule(candidate: Mapping[str, Any], gate: TaskGate) -> Rule:
    figure = gate.calibration
    if figure is None:
        return True, f"calibration not judged: task {gate.task} has no calibration figure"
    if gate.max_calibration_error is None:
        return True, f"{figure} not judged: max_calibration_error is not set"
    return _bound(
        figure, _number(candidate, figure), gate.max_calibration_error, "lower", gate.name("max_calibration_error")
    )


def _floor_rules(candidate: Mapping[str, Any], gate: TaskGate) -> list[Rule]:
    rules = []
    for metric, floor in sorted(gate.floors.items()):
        kind = "floor" if gate.direction_of(metric) == "higher" else "ceiling"
        what = f"{kind} for the first model: floors.{metric}"
        rules.append(_bound(metric, _number(candidate, metric), floor, gate.direction_of(metric), what))
    if gate.baseline_min_improvement is not None:
        rules.append(_baseline_rule(candidate, gate.baseline_min_improvement))
    return rules


def _baseline_rule(candidate: Mapping[str, Any], improvement: float) -> Rule:
    """A regression's first model must beat predicting the training mean: ``rmse < baseline_rmse * (1 - x)``."""
    rmse, baseline = _number(candidate, "rmse"), _number(candidate, "baseline_rmse")
    if rmse is None or baseline is None:
        return False, "rmse or baseline_rmse: missing or not a finite number (the mean baseline cannot be beaten)"
    bound = baseline * (1 - improvement)
    ok = rmse < bound
    what = f"baseline_rmse {baseline:.4g} * (1 - baseline_min_improvement {improvement:.4g})"
    return ok, f"rmse = {rmse:.4g} {'<' if ok else '>='} {bound:.4g} ({what})"


def _non_inferior(label: str, value: float | None, champion: float, margin: float, key: str, gate: TaskGate) -> Rule:
    """``value`` no worse than the champion's figure by more than ``margin`` in the primary's direction."""
    direction = gate.direction_of(gate.primary_metric)
    sign = -1 if direction == "higher" else 1
    if gate.margins == "relative":
        bound = champion * (1 + sign * margin)
        what = f"champion {champion:.4g} * (1 {'-' if sign < 0 else '+'} {key} {margin:.4g})"
    else:
        bound = champion + sign * margin
        what = f"champion {champion:.4g} {'-' if sign < 0 else '+'} {key} {margin:.4g}"
    return _bound(label, value, bound, direction, what)


def _comparison_rules(candidate: Mapping[str, Any], champion: Mapping[str, Any], gate: TaskGate) -> list[Rule]:
    metric = gate.primary_metric
    rules = []
    champ = _number(champion, metric)
    if champ is None:
        rules.append((False, f"{metric}: the champion's figure is missing, cannot compare"))
    else:
        margin = gate.non_inferiority_margin
        rules.append(_non_inferior(metric, _number(candidate, metric), champ, margin, "non_inferiority_margin", gate))
    cand_segments = candidate.get("segments") or {}
    for segment, seg_metrics in sorted((champion.get("segments") or {}).items()):
        rules += _segment_rule(segment, seg_metrics, cand_segments.get(segment), gate)
    return rules


def _segment_rule(segment: str, champion: Mapping[str, Any], candidate: Any, gate: TaskGate) -> list[Rule]:
    metric = gate.primary_metric
    seg_champ = _number(champion, metric)
    if seg_champ is None:
        return []  # nothing to regress from (e.g. no positives in the champion's holdout slice)
    size, unit = _size(gate.task, champion)
    if size is not None and size < gate.min_segment_size:
        # A figure over a handful of rows (or positives) swings by more than any bound: not judged.
        key = gate.name("min_segment_size")
        return [(True, f"segment {segment} not judged: {size:g} {unit} < {key} {gate.min_segment_size}")]
    value = _number(candidate if isinstance(candidate, Mapping) else None, metric)
    margin = gate.segment_max_regression
    return [_non_inferior(f"segment {segment} {metric}", value, seg_champ, margin, "segment_max_regression", gate)]


def decide(
    candidate_metrics: Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None,
    data_stats: Mapping[str, Any],
    config: GateConfig | TaskGate,
    task: str = "binary",
    dataset: str | None = None,
) -> Decision:
    """The gate's verdict on a candidate, scored on the same holdout as the champion.

    ``candidate_metrics`` / ``champion_metrics``: as :func:`tradewind.evaluation.metrics_for` returns
    them for ``task``. ``champion_metrics`` is ``None`` when there is no champion yet: the candidate is
    then judged against the absolute floors and, on pass, becomes champion directly. ``config``: the
    whole ``promotion.yaml`` (resolved for ``task`` and ``dataset``) or one :class:`TaskGate`.
    ``data_stats``: ``training_rows`` and optionally the holdout's size (``holdout_positives``,
    ``holdout_smallest_class`` or ``holdout_rows``; otherwise read from ``candidate_metrics``, save
    for binary, whose ``holdout_positives`` is required).
    """
    gate = config.rules(task, dataset) if isinstance(config, GateConfig) else config
    rules = [*_data_rules(data_stats, candidate_metrics, gate), _calibration_rule(candidate_metrics, gate)]
    first = champion_metrics is None
    if champion_metrics is None:
        rules += _floor_rules(candidate_metrics, gate)
    else:
        rules += _comparison_rules(candidate_metrics, champion_metrics, gate)
    reasons = [text for ok, text in rules if not ok]
    notes = [text for ok, text in rules if ok]
    passed = not reasons
    action: Action = "reject" if not passed else ("champion" if first else "challenger")
    return Decision(passed=passed, action=action, reasons=reasons, notes=notes)


def _aware(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"retrain_allowed: '{name}' must be timezone-aware (UTC)")
    return moment


def retrain_allowed(
    history_of_retrains: Sequence[dt.datetime],
    now: dt.datetime,
    data_hash: str | None,
    last_data_hash: str | None,
    config: GateConfig,
) -> tuple[bool, str]:
    """Whether a retrain may start now, and why (the reason is logged either way).

    ``history_of_retrains``: start times of earlier retrains (aware datetimes). The daily cap
    counts the 24 hours before ``now`` (a rolling window, so no burst around midnight).
    """
    policy = config.retrain
    now = _aware(now, "now")
    starts = sorted(_aware(t, "history_of_retrains") for t in history_of_retrains if t <= now)
    if policy.skip_unchanged_data and data_hash is not None and data_hash == last_data_hash:
        return False, f"data hash {data_hash[:12]} unchanged since the last retrain (retrain.skip_unchanged_data)"
    if starts:
        since = now - starts[-1]
        cooldown = dt.timedelta(minutes=policy.cooldown_minutes)
        if since < cooldown:
            return False, (
                f"last retrain {since.total_seconds() / 60:.1f} min ago < cooldown "
                f"{policy.cooldown_minutes:g} min (retrain.cooldown_minutes)"
            )
    recent = [t for t in starts if now - t < DAY]
    if len(recent) >= policy.max_retrains_per_day:
        return False, (
            f"{len(recent)} retrains in the last 24 h >= cap {policy.max_retrains_per_day} "
            "(retrain.max_retrains_per_day)"
        )
    return True, f"retrain allowed ({len(recent)} in the last 24 h, cap {policy.max_retrains_per_day})"
