"""The gate and retrain governance, table-driven: every rule, both outcomes, the boundaries."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.unit.helpers import CONFIG_DIR
from tradewind.evaluation import PRIMARY_METRICS, metrics_for
from tradewind.registry.gate import (
    METRICS,
    GateConfig,
    GateConfigError,
    decide,
    load_gate_config,
    parse_gate_config,
    retrain_allowed,
)
from tradewind.settings import load_settings

pytestmark = pytest.mark.unit

CONFIG = GateConfig(
    primary_metric="pr_auc",
    non_inferiority_margin=0.01,
    min_training_rows=1000,
    min_holdout_positives=20,
    segment_max_regression=0.05,
    max_ece=0.05,
    floors={"pr_auc": 0.1, "roc_auc": 0.7},
)
CHAMPION = {"pr_auc": 0.42, "roc_auc": 0.91, "ece": 0.02, "segments": {"US": {"pr_auc": 0.4}, "GB": {"pr_auc": 0.3}}}
CANDIDATE = {"pr_auc": 0.45, "roc_auc": 0.92, "ece": 0.01, "segments": {"US": {"pr_auc": 0.41}, "GB": {"pr_auc": 0.3}}}
DATA = {"training_rows": 5000, "holdout_positives": 50}


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    node = out
    for p in parents:
        node = node[p]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return out


# (id, candidate, champion (None = first model), data, expected action, fragment of the one reason)
CASES = [
    ("better-than-champion", CANDIDATE, CHAMPION, DATA, "challenger", None),
    ("primary-at-margin-boundary", with_(CANDIDATE, "pr_auc", 0.41), CHAMPION, DATA, "challenger", None),
    (
        "primary-below-margin",
        with_(CANDIDATE, "pr_auc", 0.4099),
        CHAMPION,
        DATA,
        "reject",
        "pr_auc = 0.4099 < 0.41 (champion 0.42 - non_inferiority_margin 0.01)",
    ),
    ("primary-missing", with_(CANDIDATE, "pr_auc", ...), CHAMPION, DATA, "reject", "pr_auc: missing"),
    ("primary-nan", with_(CANDIDATE, "pr_auc", float("nan")), CHAMPION, DATA, "reject", "pr_auc: missing"),
    ("champion-figure-missing", CANDIDATE, with_(CHAMPION, "pr_auc", ...), DATA, "reject", "champion's figure"),
    ("rows-at-boundary", CANDIDATE, CHAMPION, {**DATA, "training_rows": 1000}, "challenger", None),
    (
        "rows-below",
        CANDIDATE,
        CHAMPION,
        {**DATA, "training_rows": 999},
        "reject",
        "training_rows = 999 < 1000 (min_training_rows)",
    ),
    ("rows-missing", CANDIDATE, CHAMPION, {"holdout_positives": 50}, "reject", "training_rows: missing"),
    ("positives-at-boundary", CANDIDATE, CHAMPION, {**DATA, "holdout_positives": 20}, "challenger", None),
    (
        "positives-below",
        CANDIDATE,
        CHAMPION,
        {**DATA, "holdout_positives": 19},
        "reject",
        "holdout_positives = 19 < 20 (min_holdout_positives)",
    ),
    ("segment-at-bound", with_(CANDIDATE, "segments.US.pr_auc", 0.35), CHAMPION, DATA, "challenger", None),
    (
        "segment-regressed",
        with_(CANDIDATE, "segments.US.pr_auc", 0.3499),
        CHAMPION,
        DATA,
        "reject",
        "segment US pr_auc = 0.3499 < 0.35 (champion 0.4 - segment_max_regression 0.05)",
    ),
    (
        "segment-missing-in-candidate",
        with_(CANDIDATE, "segments.GB", ...),
        CHAMPION,
        DATA,
        "reject",
        "segment GB pr_auc: missing",
    ),
    ("segment-new-in-candidate", with_(CANDIDATE, "segments.FR", {"pr_auc": 0.0}), CHAMPION, DATA, "challenger", None),
    ("ece-at-bound", with_(CANDIDATE, "ece", 0.05), CHAMPION, DATA, "challenger", None),
    ("ece-above", with_(CANDIDATE, "ece", 0.0501), CHAMPION, DATA, "reject", "ece = 0.0501 > 0.05 (max_ece)"),
    ("ece-missing", with_(CANDIDATE, "ece", ...), CHAMPION, DATA, "reject", "ece: missing"),
    ("first-model-passes-floors", CANDIDATE, None, DATA, "champion", None),
    ("first-model-at-floors", {"pr_auc": 0.1, "roc_auc": 0.7, "ece": 0.01}, None, DATA, "champion", None),
    (
        "first-model-below-pr-floor",
        {"pr_auc": 0.09, "roc_auc": 0.9, "ece": 0.01},
        None,
        DATA,
        "reject",
        "pr_auc = 0.09 < 0.1 (floor for the first model: floors.pr_auc)",
    ),
    (
        "first-model-below-roc-floor",
        {"pr_auc": 0.3, "roc_auc": 0.69, "ece": 0.01},
        None,
        DATA,
        "reject",
        "roc_auc = 0.69 < 0.7 (floor for the first model: floors.roc_auc)",
    ),
    ("first-model-small-data", CANDIDATE, None, {**DATA, "training_rows": 10}, "reject", "training_rows = 10 < 1000"),
]


@pytest.mark.parametrize(
    ("candidate", "champion", "data", "action", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_gate(candidate: dict, champion: dict | None, data: dict, action: str, reason: str | None) -> None:
    decision = decide(candidate, champion, data, CONFIG)
    assert decision.action == action
    assert decision.passed is (action != "reject")
    if reason is None:
        assert decision.reasons == []
        assert decision.notes  # passing rules are on the record too
    else:
        assert len(decision.reasons) == 1, decision.reasons
        assert reason in decision.reasons[0]


def test_every_failing_rule_gives_a_reason() -> None:
    bad = {"pr_auc": 0.2, "roc_auc": 0.5, "ece": 0.3, "segments": {"US": {"pr_auc": 0.1}}}
    decision = decide(bad, CHAMPION, {"training_rows": 1, "holdout_positives": 0}, CONFIG)
    joined = "\n".join(decision.reasons)
    assert len(decision.reasons) == 6, joined  # rows, positives, ece, primary, US, GB
    for fragment in ("training_rows", "holdout_positives", "ece", "pr_auc = 0.2", "segment US", "segment GB"):
        assert fragment in joined


def test_shipped_config_loads() -> None:
    config = load_settings("local").gate()
    assert config.primary_metric == "pr_auc"
    assert config.floors["roc_auc"] == 0.7
    assert config.retrain.max_retrains_per_day >= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("primary_metric: pr_auc\nmargin: 0.1\n", "margin: Extra inputs are not permitted"),
        ("non_inferiority_margin: -0.1\n", "non_inferiority_margin: Input should be greater than or equal to 0"),
        ("retrain:\n  cooldown_minutes: soon\n", "retrain.cooldown_minutes"),
        ("retrain:\n  max_retrains: 3\n", "retrain.max_retrains: Extra inputs"),
        ("- a\n- b\n", "must be a mapping"),
        ("floors: [pr_auc]\n", "floors"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "promotion.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GateConfigError) as err:
        load_gate_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_the_profile_overrides_promotion_yaml() -> None:
    demo = load_settings("demo")
    assert demo.gate() is demo.gate()  # read once
    assert demo.gate().retrain.cooldown_minutes == 1  # the demo profile's promotion: override
    assert load_settings("local").gate().retrain.cooldown_minutes == 60


def test_a_bad_override_says_the_profile_changed_the_file(tmp_path: Path) -> None:
    path = tmp_path / "promotion.yaml"
    path.write_text("max_ece: 0.05\n", encoding="utf-8")
    assert load_gate_config(path, {"max_ece": 0.1}).max_ece == 0.1
    with pytest.raises(GateConfigError) as err:
        load_gate_config(path, {"retrain": {"cooldown_minutes": -1}})
    assert str(err.value).startswith(f"{path} (with the profile's promotion: overrides): invalid promotion config")
    assert "retrain.cooldown_minutes: Input should be greater than or equal to 0" in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(GateConfigError, match="not found"):
        load_gate_config(tmp_path / "nope.yaml")


def test_empty_config_is_all_defaults() -> None:
    assert parse_gate_config({}) == GateConfig()


NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
POLICY = parse_gate_config({"retrain": {"cooldown_minutes": 60, "max_retrains_per_day": 3}})


def ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


RETRAIN_CASES = [
    ("first-ever", [], "h2", None, True, "retrain allowed (0 in the last 24 h, cap 3)"),
    ("data-unchanged", [ago(600)], "h1", "h1", False, "unchanged since the last retrain"),
    ("cooldown-not-over", [ago(59)], "h2", "h1", False, "59.0 min ago < cooldown 60 min"),
    ("cooldown-exactly-over", [ago(60)], "h2", "h1", True, "1 in the last 24 h"),
    ("daily-cap-reached", [ago(120), ago(240), ago(360)], "h2", "h1", False, "3 retrains in the last 24 h >= cap 3"),
    ("cap-window-rolls", [ago(24 * 60), ago(240), ago(360)], "h2", "h1", True, "2 in the last 24 h"),
    ("future-entries-ignored", [NOW + dt.timedelta(minutes=5)], "h2", "h1", True, "0 in the last 24 h"),
    ("no-hash-known", [ago(600)], None, None, True, "allowed"),
]


@pytest.mark.parametrize(
    ("history", "data_hash", "last", "allowed", "reason"),
    [c[1:] for c in RETRAIN_CASES],
    ids=[c[0] for c in RETRAIN_CASES],
)
def test_retrain_governance(history: list, data_hash: str | None, last: str | None, allowed: bool, reason: str) -> None:
    ok, why = retrain_allowed(history, NOW, data_hash, last, POLICY)
    assert ok is allowed
    assert reason in why


def test_unchanged_data_allowed_when_skip_is_off() -> None:
    config = parse_gate_config({"retrain": {"skip_unchanged_data": False}})
    assert retrain_allowed([], NOW, "h1", "h1", config)[0] is True


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        retrain_allowed([], NOW.replace(tzinfo=None), "h", None, POLICY)


def test_a_segment_with_too_few_positives_is_noted_not_judged() -> None:
    champion = with_(CHAMPION, "segments.US.positives", 12)
    candidate = with_(CANDIDATE, "segments.US.pr_auc", 0.2)  # far below, but over 12 positives: noise
    decision = decide(candidate, champion, DATA, CONFIG)
    assert decision.action == "challenger"
    assert "segment US not judged: 12 positives < min_segment_positives 30" in decision.notes
    enough = decide(candidate, with_(CHAMPION, "segments.US.positives", 30), DATA, CONFIG)
    assert enough.action == "reject"
    assert "segment US pr_auc = 0.2 < 0.35" in enough.reasons[0]


# -- per task: metric dicts as tradewind.evaluation.metrics_for returns them ----------------------------

CLASSES = ["a", "b", "c"]


def multiclass_metrics(
    y: np.ndarray, predicted: np.ndarray, segments: np.ndarray | None = None, confidence: float = 0.9
) -> dict:
    """Each row puts ``confidence`` on its predicted class: calibrated when that share is right."""
    proba = np.full((len(y), 3), (1 - confidence) / 2)
    proba[np.arange(len(y)), predicted] = confidence
    return metrics_for("multiclass", y, proba, classes=CLASSES, segments=segments)


def wrong(y: np.ndarray, every: int) -> np.ndarray:
    """``y`` with every ``every``-th row predicted as the next class."""
    out = y.copy()
    out[::every] = (out[::every] + 1) % 3
    return out


MC_Y = np.repeat([0, 1, 2], 40)  # 120 holdout rows, 40 per class
MC_CONFIG = parse_gate_config({"multiclass": {"min_training_rows": 100, "min_holdout_size": 10}})
MC_DATA = {"training_rows": 500}
MC_GATE_ARGS = {"config": MC_CONFIG, "task": "multiclass"}


def test_metric_tables_agree_with_the_primary_metrics() -> None:
    for task, primary in PRIMARY_METRICS.items():
        assert METRICS[task][primary.name] == primary.direction
        assert primary.calibration is None or METRICS[task][primary.calibration] == "lower"
        assert MC_CONFIG.rules(task).primary_metric == primary.name


def test_multiclass_first_model_passes_its_floor() -> None:
    candidate = multiclass_metrics(MC_Y, wrong(MC_Y, 10))  # 90% right
    decision = decide(candidate, None, MC_DATA, **MC_GATE_ARGS)
    assert decision.action == "champion", decision.reasons
    notes = decision.notes
    assert any(n.startswith("top_label_ece = ") and n.endswith("<= 0.05 (max_calibration_error)") for n in notes)
    assert "holdout rows in the smallest class (a) = 40 >= 10 (min_holdout_size)" in notes
    assert any(
        n.startswith("macro_f1 = 0.9") and n.endswith("(floor for the first model: floors.macro_f1)") for n in notes
    )


def test_multiclass_first_model_that_predicts_one_class_fails_the_floor() -> None:
    proba = np.tile([0.34, 0.33, 0.33], (len(MC_Y), 1))  # always 'a', calibrated: right a third of the time
    candidate = metrics_for("multiclass", MC_Y, proba, classes=CLASSES)
    decision = decide(candidate, None, MC_DATA, **MC_GATE_ARGS)
    assert decision.action == "reject"
    assert decision.reasons == ["macro_f1 = 0.1667 < 0.34 (floor for the first model: floors.macro_f1)"]


def test_multiclass_against_a_champion_higher_is_better() -> None:
    candidate = multiclass_metrics(MC_Y, wrong(MC_Y, 10))
    worse_champion = multiclass_metrics(MC_Y, wrong(MC_Y, 5))
    assert decide(candidate, worse_champion, MC_DATA, **MC_GATE_ARGS).action == "challenger"
    better_champion = multiclass_metrics(MC_Y, MC_Y)  # every row right
    decision = decide(candidate, better_champion, MC_DATA, **MC_GATE_ARGS)
    assert decision.action == "reject"
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith("macro_f1 = 0.9")
    assert decision.reasons[0].endswith("< 0.99 (champion 1 - non_inferiority_margin 0.01)")


def test_multiclass_holdout_sized_by_its_smallest_class() -> None:
    y = np.array([0] * 50 + [1] * 50 + [2] * 6)
    decision = decide(multiclass_metrics(y, y, confidence=1.0), None, MC_DATA, **MC_GATE_ARGS)
    assert decision.reasons == ["holdout rows in the smallest class (c) = 6 < 10 (min_holdout_size)"]


def test_multiclass_segments_are_sized_by_their_smallest_class() -> None:
    y = np.array([0] * 40 + [1] * 40 + [2] * 40 + [0] * 40 + [1] * 40 + [2] * 5)
    segments = np.array(["US"] * 120 + ["GB"] * 85)
    gb = segments == "GB"
    champion = multiclass_metrics(y, y, segments)
    candidate_pred = y.copy()
    candidate_pred[gb & (y == 2)] = 0  # the GB 'c' rows all wrong: GB's macro-F1 drops, overall barely
    candidate = multiclass_metrics(y, candidate_pred, segments)
    loose = {"non_inferiority_margin": 0.1, "max_calibration_error": 0.5}
    config = parse_gate_config({"multiclass": {**loose, "min_segment_size": 30}})
    decision = decide(candidate, champion, {"training_rows": 1000}, config, "multiclass")
    assert decision.action == "challenger", decision.reasons
    assert "segment GB not judged: 5 rows in the smallest class (c) < min_segment_size 30" in decision.notes
    small = parse_gate_config({"multiclass": {**loose, "min_segment_size": 5}})
    judged = decide(candidate, champion, {"training_rows": 1000}, small, "multiclass")
    assert judged.action == "reject"
    assert judged.reasons[0].startswith("segment GB macro_f1 = 0.6")
    assert judged.reasons[0].endswith("< 0.95 (champion 1 - segment_max_regression 0.05)")


REG_Y = np.linspace(0.0, 100.0, 200)
REG_SEGMENTS = np.array(["US"] * 150 + ["GB"] * 50)
REG_DATA = {"training_rows": 1000}


def regression_metrics(error: float | np.ndarray, segments: np.ndarray | None = None) -> dict:
    """Predictions off by exactly ``error`` (alternately above and below): rmse == error."""
    signs = np.where(np.arange(len(REG_Y)) % 2 == 0, 1.0, -1.0)
    return metrics_for("regression", REG_Y, REG_Y + signs * error, baseline=float(REG_Y.mean()), segments=segments)


def test_regression_first_model_beats_the_mean_baseline() -> None:
    decision = decide(regression_metrics(5.0), None, REG_DATA, parse_gate_config({}), "regression")
    assert decision.action == "champion", decision.reasons
    assert "calibration not judged: task regression has no calibration figure" in decision.notes
    assert "holdout rows = 200 >= 100 (min_holdout_size)" in decision.notes
    assert "rmse = 5 < 27.56 (baseline_rmse 29.01 * (1 - baseline_min_improvement 0.05))" in decision.notes


def test_regression_first_model_no_better_than_the_mean_is_rejected() -> None:
    decision = decide(regression_metrics(28.0), None, REG_DATA, parse_gate_config({}), "regression")
    assert decision.action == "reject"
    assert decision.reasons == ["rmse = 28 >= 27.56 (baseline_rmse 29.01 * (1 - baseline_min_improvement 0.05))"]


def test_regression_floor_is_an_upper_bound_for_rmse() -> None:
    config = parse_gate_config({"regression": {"floors": {"rmse": 4.0, "r2": 0.9}}})
    decision = decide(regression_metrics(5.0), None, REG_DATA, config, "regression")
    assert decision.reasons == ["rmse = 5 > 4 (ceiling for the first model: floors.rmse)"]
    r2 = [n for n in decision.notes if n.startswith("r2 = 0.97")]
    assert len(r2) == 1
    assert r2[0].endswith(">= 0.9 (floor for the first model: floors.r2)")


@pytest.mark.parametrize(
    ("champion_rmse", "action", "reason"),
    [
        (4.91, "challenger", None),  # 5 <= 4.91 * 1.02 = 5.008: within the margin
        (5.5, "challenger", None),  # lower is better: the candidate beats the champion
        (4.9, "reject", "rmse = 5 > 4.998 (champion 4.9 * (1 + non_inferiority_margin 0.02))"),
    ],
)
def test_regression_against_a_champion_lower_is_better(champion_rmse: float, action: str, reason: str | None) -> None:
    champion = regression_metrics(champion_rmse)
    decision = decide(regression_metrics(5.0), champion, REG_DATA, parse_gate_config({}), "regression")
    assert decision.action == action
    assert decision.reasons == ([reason] if reason else [])
    assert not any("baseline" in n for n in decision.notes)  # the baseline is a first-model rule


def test_regression_segments_are_sized_by_rows() -> None:
    error = np.where(REG_SEGMENTS == "GB", 8.0, 5.0)  # the candidate is worse on GB's 50 rows
    candidate, champion = regression_metrics(error, REG_SEGMENTS), regression_metrics(5.0, REG_SEGMENTS)
    loose = {"non_inferiority_margin": 0.5, "segment_max_regression": 0.1}
    decision = decide(candidate, champion, REG_DATA, parse_gate_config({"regression": loose}), "regression")
    assert decision.action == "challenger", decision.reasons
    assert "segment GB not judged: 50 rows < min_segment_size 100" in decision.notes
    config = parse_gate_config({"regression": {**loose, "min_segment_size": 50}})
    judged = decide(candidate, champion, REG_DATA, config, "regression")
    assert judged.reasons == ["segment GB rmse = 8 > 5.5 (champion 5 * (1 + segment_max_regression 0.1))"]


def test_a_data_set_changes_its_tasks_rules() -> None:
    config = parse_gate_config(
        {"datasets": {"grades": {"primary_metric": "accuracy", "floors": {"accuracy": 0.95}, "min_training_rows": 100}}}
    )
    rules = config.rules("multiclass", "grades")
    assert (rules.primary_metric, rules.direction_of("accuracy"), rules.min_holdout_size) == ("accuracy", "higher", 10)
    candidate = multiclass_metrics(MC_Y, wrong(MC_Y, 10))
    decision = decide(candidate, None, {"training_rows": 100}, config, "multiclass", "grades")
    assert decision.reasons == ["accuracy = 0.9 < 0.95 (floor for the first model: floors.accuracy)"]
    other = decide(candidate, None, {"training_rows": 100}, config, "multiclass")  # another data set: defaults
    assert other.reasons == ["training_rows = 100 < 1000 (min_training_rows)"]
    champion = multiclass_metrics(MC_Y, MC_Y)
    compared = decide(candidate, champion, {"training_rows": 100}, config, "multiclass", "grades")
    assert compared.reasons == ["accuracy = 0.9 < 0.99 (champion 1 - non_inferiority_margin 0.01)"]


# -- binary: the shipped config's decisions, pinned ----------------------------------------------------


def binary_metrics(groups: list[tuple[float, int, int]], segments: np.ndarray | None = None) -> dict:
    """Rows scored ``score``, ``positives`` of ``rows`` positive, per (score, rows, positives) group."""
    y = np.concatenate([np.r_[np.ones(p), np.zeros(n - p)] for _, n, p in groups])
    p = np.concatenate([np.full(n, s) for s, n, _ in groups])
    return metrics_for("binary", y, p, segments=segments)


def test_the_shipped_binary_gate_decides_as_before() -> None:
    config = load_settings("local").gate()
    segments = np.array(["US", "GB"] * 900)
    candidate = binary_metrics([(0.05, 1500, 30), (0.3, 200, 60), (0.9, 100, 90)], segments)
    decision = decide(candidate, None, {"training_rows": 5000, "holdout_positives": 180}, config)
    assert (decision.action, decision.reasons) == ("champion", [])
    assert decision.notes == [
        "training_rows = 5000 >= 1000 (min_training_rows)",
        "holdout_positives = 180 >= 20 (min_holdout_positives)",
        "ece = 0.025 <= 0.05 (max_ece)",
        "pr_auc = 0.6333 >= 0.1 (floor for the first model: floors.pr_auc)",
        "roc_auc = 0.8909 >= 0.7 (floor for the first model: floors.roc_auc)",
    ]
    champion = binary_metrics([(0.05, 1500, 30), (0.3, 200, 60), (0.6, 100, 90)], segments)
    weak = binary_metrics([(0.05, 1500, 60), (0.3, 200, 60), (0.9, 100, 60)], segments)
    decision = decide(weak, champion, {"training_rows": 5000, "holdout_positives": 150}, config)
    assert decision.action == "reject"
    assert decision.reasons == [
        "pr_auc = 0.3667 < 0.6233 (champion 0.6333 - non_inferiority_margin 0.01)",
        "segment GB pr_auc = 0.3667 < 0.5833 (champion 0.6333 - segment_max_regression 0.05)",
        "segment US pr_auc = 0.3667 < 0.5833 (champion 0.6333 - segment_max_regression 0.05)",
    ]
    assert decision.notes == [
        "training_rows = 5000 >= 1000 (min_training_rows)",
        "holdout_positives = 150 >= 20 (min_holdout_positives)",
        "ece = 0.025 <= 0.05 (max_ece)",
    ]


# -- the per-task and per-data-set config, checked at load ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("multiclass:\n  primary_metric: rmse\n", "multiclass: primary_metric: 'rmse' is not a multiclass metric: use"),
        ("regression:\n  direction: higher\n", "regression: direction: rmse is lower-is-better, not higher"),
        ("multiclass:\n  direction: up\n", "multiclass.direction: Input should be 'higher' or 'lower'"),
        ("regression:\n  max_calibration_error: 0.1\n", "task regression has no calibration figure: leave it out"),
        ("multiclass:\n  baseline_min_improvement: 0.1\n", "only a regression has a mean baseline, not task multi"),
        ("regression:\n  floors: {pr_auc: 0.3}\n", "floors.pr_auc: 'pr_auc' is not a regression metric"),
        ("regression:\n  margins: percent\n", "regression.margins: Input should be 'absolute' or 'relative'"),
        ("floors: {macro_f1: 0.3}\n", "floors: macro_f1: 'macro_f1' is not a binary metric"),
        ("primary_metric: rmse\n", "primary_metric: 'rmse' is not a binary metric"),
        ("datasets:\n  grades: {direction: up}\n", "datasets.grades.direction: Input should be 'higher' or 'lower'"),
        ("datasets:\n  grades: {primary: accuracy}\n", "datasets.grades.primary: Extra inputs are not permitted"),
        ("datasets:\n  grades: {task: ranking}\n", "datasets.grades.task: Input should be 'binary', 'multiclass'"),
        (
            "datasets:\n  grades: {task: regression, primary_metric: accuracy}\n",
            "datasets.grades.primary_metric: 'accuracy' is not a regression metric: use one of mae, r2, rmse",
        ),
        (
            "datasets:\n  grades: {primary_metric: f1}\n",
            "datasets.grades.primary_metric: 'f1' is not a multiclass metric: use one of accuracy, log_loss, "
            "macro_f1, top_label_ece (as a multiclass data set; set task: to check one task)",
        ),
        (
            "datasets:\n  prices: {task: regression, primary_metric: mae, direction: higher}\n",
            "datasets.prices.direction: mae is lower-is-better, not higher",
        ),
    ],
)
def test_bad_task_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "promotion.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GateConfigError) as err:
        load_gate_config(path)
    assert str(err.value).startswith(f"{path}: invalid promotion config")
    assert message in str(err.value)


def test_a_data_set_change_is_checked_against_its_task_when_resolved() -> None:
    config = parse_gate_config({"datasets": {"grades": {"floors": {"accuracy": 0.6}}}})  # fits multiclass
    assert config.rules("multiclass", "grades").floors == {"accuracy": 0.6}  # floors replaces the task's
    with pytest.raises(GateConfigError) as err:
        config.rules("regression", "grades")
    assert "datasets.grades does not fit task regression" in str(err.value)
    assert "datasets.grades.floors.accuracy: 'accuracy' is not a regression metric" in str(err.value)
    typed = parse_gate_config({"datasets": {"grades": {"task": "multiclass"}}})
    with pytest.raises(GateConfigError) as err:
        typed.rules("binary", "grades")
    assert "datasets.grades.task: says multiclass, but data set 'grades' is task binary" in str(err.value)
    with pytest.raises(GateConfigError, match="task must be one of binary, multiclass, regression, got 'ranking'"):
        decide({}, None, {}, typed, "ranking")


def test_the_settings_check_data_set_changes_against_the_specs_task(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "profiles").mkdir(parents=True)
    shutil.copytree(CONFIG_DIR / "datasets", config / "datasets")
    shutil.copy(CONFIG_DIR / "promotion.yaml", config / "promotion.yaml")
    profile = {"storage": {"root": "file:///tmp/lake"}, "datasets": ["transactions"]}
    profile["promotion"] = {"datasets": {"transactions": {"primary_metric": "macro_f1"}}}  # a multiclass metric
    (config / "profiles" / "custom.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    with pytest.raises(GateConfigError) as err:
        load_settings("custom", config_dir=config).gate()
    assert "datasets.transactions.primary_metric: 'macro_f1' is not a binary metric" in str(err.value)
    profile["promotion"] = {"datasets": {"transactions": {"primary_metric": "roc_auc", "min_training_rows": 10}}}
    (config / "profiles" / "custom.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    gate = load_settings("custom", config_dir=config).gate()
    assert gate.rules("binary", "transactions").primary_metric == "roc_auc"
    assert gate.rules("binary").primary_metric == "pr_auc"
