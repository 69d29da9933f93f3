"""The gate and retrain governance, table-driven: every rule, both outcomes, the boundaries."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tradewind.registry.gate import (
    GateConfig,
    GateConfigError,
    decide,
    load_gate_config,
    parse_gate_config,
    retrain_allowed,
)

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
    from tradewind.settings import load_settings

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
    from tradewind.settings import load_settings

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
