"""The promotion gate and retrain governance: pure functions over metric dicts and a config.

No MLflow here: the gate decides, :mod:`tradewind.registry.aliases` acts, and
:func:`tradewind.registry.versions.record_decision` writes the verdict on the version. Keeping the
decision pure makes it table-testable and lets the Airflow layer log it before anything moves.

Rules (every failing one adds a reason naming the metric, the figures and the bound):

- data: ``training_rows >= min_training_rows`` and ``holdout_positives >= min_holdout_positives``;
- calibration: ``ece <= max_ece``;
- first model ever (no champion): every ``floors`` metric ``>= floor`` -> action ``champion``;
- otherwise non-inferiority on the primary metric (``candidate >= champion - margin``) and, for
  every segment the champion has, ``candidate >= champion - segment_max_regression`` -> ``challenger``.

A metric that is missing or not a finite number fails its rule: the gate never passes on absence.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tradewind.config import CONFIG_DIR, ConfigError, StrictModel, deep_merge, load_config, parse_config, read_yaml

# "lost": passed, but another promotion set the alias first (see registry.promotion).
Action = Literal["champion", "challenger", "reject", "lost"]
DAY = dt.timedelta(hours=24)
# Bounds like ``champion - margin`` are computed in floating point (0.42 - 0.01 = 0.41000000000000003);
# a figure equal to the bound as written must pass, so comparisons allow this much slack.
EPS = 1e-9
CONFIG_FILE = "promotion.yaml"
WHAT = "promotion config"


class RetrainPolicy(StrictModel):
    cooldown_minutes: float = Field(default=60, ge=0)
    max_retrains_per_day: int = Field(default=4, ge=1)
    skip_unchanged_data: bool = True


class GateConfig(StrictModel):
    primary_metric: str = "pr_auc"
    non_inferiority_margin: float = Field(default=0.01, ge=0)
    min_training_rows: int = Field(default=1000, ge=0)
    min_holdout_positives: int = Field(default=20, ge=0)
    segment_max_regression: float = Field(default=0.05, ge=0)
    min_segment_positives: int = Field(default=30, ge=1)
    max_ece: float = Field(default=0.05, gt=0)
    floors: dict[str, float] = Field(default_factory=lambda: {"pr_auc": 0.1, "roc_auc": 0.7})
    retrain: RetrainPolicy = RetrainPolicy()


class GateConfigError(ConfigError):
    """``promotion.yaml`` is malformed; the message names the file and the key."""


def parse_gate_config(data: Any, origin: str = "<promotion config>") -> GateConfig:
    return parse_config(GateConfig, data, origin, WHAT, error=GateConfigError)


def load_gate_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> GateConfig:
    """Load and check ``promotion.yaml`` (default: ``include/config/promotion.yaml``).

    ``overrides``: keys a profile changes (its ``promotion:`` section), deep-merged on top; an error
    then says the overrides were applied, since the bad key may be the profile's."""
    path = Path(path) if path is not None else CONFIG_DIR / CONFIG_FILE
    if not overrides:
        return load_config(GateConfig, path, WHAT, error=GateConfigError)
    raw = read_yaml(path, WHAT, GateConfigError) or {}
    if isinstance(raw, Mapping):
        raw = deep_merge(raw, overrides)
    return parse_gate_config(raw, origin=f"{path} (with the profile's promotion: overrides)")


@dataclass(frozen=True)
class Decision:
    passed: bool
    action: Action
    reasons: list[str] = field(default_factory=list)  # every failed rule
    notes: list[str] = field(default_factory=list)  # every rule that passed, for the record


def _number(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    value = (metrics or {}).get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _at_least(label: str, value: float | None, bound: float, what: str) -> tuple[bool, str]:
    if value is None:
        return False, f"{label}: missing or not a finite number (needs >= {bound:.4g}, {what})"
    ok = value >= bound - EPS
    return ok, f"{label} = {value:.4g} {'>=' if ok else '<'} {bound:.4g} ({what})"


def _data_rules(data_stats: Mapping[str, Any], config: GateConfig) -> list[tuple[bool, str]]:
    return [
        _at_least("training_rows", _number(data_stats, "training_rows"), config.min_training_rows, "min_training_rows"),
        _at_least(
            "holdout_positives",
            _number(data_stats, "holdout_positives"),
            config.min_holdout_positives,
            "min_holdout_positives",
        ),
    ]


def _calibration_rule(candidate: Mapping[str, Any], config: GateConfig) -> tuple[bool, str]:
    ece = _number(candidate, "ece")
    if ece is None:
        return False, f"ece: missing or not a finite number (needs <= {config.max_ece:.4g}, max_ece)"
    ok = ece <= config.max_ece + EPS
    return ok, f"ece = {ece:.4g} {'<=' if ok else '>'} {config.max_ece:.4g} (max_ece)"


def _floor_rules(candidate: Mapping[str, Any], config: GateConfig) -> list[tuple[bool, str]]:
    return [
        _at_least(metric, _number(candidate, metric), floor, f"floor for the first model: floors.{metric}")
        for metric, floor in sorted(config.floors.items())
    ]


def _comparison_rules(
    candidate: Mapping[str, Any], champion: Mapping[str, Any], config: GateConfig
) -> list[tuple[bool, str]]:
    metric = config.primary_metric
    rules = []
    champ = _number(champion, metric)
    if champ is None:
        rules.append((False, f"{metric}: the champion's figure is missing, cannot compare"))
    else:
        bound = champ - config.non_inferiority_margin
        what = f"champion {champ:.4g} - non_inferiority_margin {config.non_inferiority_margin:.4g}"
        rules.append(_at_least(metric, _number(candidate, metric), bound, what))
    cand_segments = candidate.get("segments") or {}
    for segment, seg_metrics in sorted((champion.get("segments") or {}).items()):
        seg_champ = _number(seg_metrics, metric)
        if seg_champ is None:
            continue  # nothing to regress from (e.g. no positives in the champion's holdout slice)
        positives = _number(seg_metrics, "positives")
        if positives is not None and positives < config.min_segment_positives:
            # A PR-AUC over a handful of positives swings by more than any bound: not judged.
            rules.append(
                (
                    True,
                    f"segment {segment} not judged: {positives:g} positives < min_segment_positives "
                    f"{config.min_segment_positives}",
                )
            )
            continue
        bound = seg_champ - config.segment_max_regression
        what = f"champion {seg_champ:.4g} - segment_max_regression {config.segment_max_regression:.4g}"
        rules.append(_at_least(f"segment {segment} {metric}", _number(cand_segments.get(segment), metric), bound, what))
    return rules


def decide(
    candidate_metrics: Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None,
    data_stats: Mapping[str, Any],
    config: GateConfig,
) -> Decision:
    """The gate's verdict on a candidate, scored on the same holdout as the champion.

    ``champion_metrics`` is ``None`` when there is no champion yet: the candidate is then judged
    against the absolute floors and, on pass, becomes champion directly.
    """
    rules = [*_data_rules(data_stats, config), _calibration_rule(candidate_metrics, config)]
    first = champion_metrics is None
    if champion_metrics is None:
        rules += _floor_rules(candidate_metrics, config)
    else:
        rules += _comparison_rules(candidate_metrics, champion_metrics, config)
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
