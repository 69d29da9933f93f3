"""The canary's stage verdicts: each SLO, its breach message, readiness, and the 100% stage's baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.canary.fakes import FakeServer
from tradewind.canary.config import CanaryConfig, SloConfig
from tradewind.canary.snapshots import MetricsSnapshot, VariantMetrics, delta
from tradewind.canary.verdict import judge_stage
from tradewind.serving.contract import CHALLENGER, CHAMPION

pytestmark = pytest.mark.unit

CONFIG = CanaryConfig(min_requests=200, slo=SloConfig(min_score_samples=500))


def test_a_restart_is_named_in_the_verdict_figures() -> None:
    old = FakeServer(seed=1)
    old.serve(CHALLENGER, 500)
    new = FakeServer(seed=2)
    new.serve(CHAMPION, 2000)
    new.serve(CHALLENGER, 300)
    verdict = judge_stage(delta(new.snapshot(), old.snapshot()), CONFIG)
    assert verdict.figures["resets"] == [CHALLENGER]


@dataclass(frozen=True)
class Case:
    champion: dict[str, Any]
    challenger: dict[str, Any]
    ready: bool
    passed: bool
    breached: tuple[str, ...] = ()


CASES = {
    "healthy": Case({"n": 2700}, {"n": 300, "error_rate": 0.003}, ready=True, passed=True),
    "error-burst": Case(
        {"n": 2700}, {"n": 300, "error_rate": 0.06}, ready=True, passed=False, breached=("error_rate",)
    ),
    "latency-regression": Case(
        {"n": 2700}, {"n": 300, "median_ms": 30.0}, ready=True, passed=False, breached=("p99_latency",)
    ),
    "score-shift": Case(
        {"n": 2700}, {"n": 300, "score_shift": True}, ready=True, passed=False, breached=("score_psi",)
    ),
    "overloaded": Case(
        {"n": 2700, "shed": 900}, {"n": 300, "shed": 100}, ready=True, passed=False, breached=("shed_rate",)
    ),
    "overloaded-and-failing": Case(
        {"n": 2700},
        {"n": 300, "error_rate": 0.06, "shed": 100},
        ready=True,
        passed=False,
        breached=("error_rate", "shed_rate"),
    ),
    "not-enough-requests": Case({"n": 900}, {"n": 100, "error_rate": 0.5}, ready=False, passed=False),
    "everything-at-once": Case(
        {"n": 2700},
        {"n": 300, "error_rate": 0.1, "median_ms": 40.0, "score_shift": True},
        ready=True,
        passed=False,
        breached=("error_rate", "p99_latency", "score_psi"),
    ),
}


def _stage(champion: dict[str, Any], challenger: dict[str, Any], seed: int = 11) -> MetricsSnapshot:
    server = FakeServer(seed=seed)
    server.serve(CHAMPION, 500)  # traffic before the stage, excluded by the delta
    start = server.snapshot()
    champion, challenger = dict(champion), dict(challenger)
    server.serve(CHAMPION, champion.pop("n"), **champion)
    server.serve(CHALLENGER, challenger.pop("n"), **challenger)
    return delta(server.snapshot(), start)


@pytest.mark.parametrize("name", CASES)
def test_stage_verdicts(name: str) -> None:
    case = CASES[name]
    verdict = judge_stage(_stage(case.champion, case.challenger), CONFIG)
    assert verdict.ready is case.ready, verdict.figures
    assert verdict.passed is case.passed, verdict.summary()
    assert tuple(b.slo for b in verdict.breaches) == case.breached, verdict.summary()
    assert verdict.failed is bool(case.breached)
    assert verdict.figures["champion_reference"] == "stage"
    json.dumps(verdict.figures, allow_nan=False)  # JSON-ready for the task log and XCom


def test_a_breach_names_the_figure_and_the_limit() -> None:
    verdict = judge_stage(_stage({"n": 2700}, {"n": 500, "error_rate": 0.042}, seed=5), CONFIG)
    (breach,) = verdict.breaches
    rate = verdict.figures["challenger"]["error_rate"]
    assert breach.slo == "error_rate"
    assert breach.value == rate
    assert breach.limit == 0.01
    assert breach.message.startswith(f"error rate {rate:.1%} > 1.0%")
    assert "slo.max_error_rate" in breach.message


def test_shedding_is_its_own_signal_not_a_model_error() -> None:
    verdict = judge_stage(_stage({"n": 2700, "shed": 900}, {"n": 400, "shed": 100}), CONFIG)
    (breach,) = verdict.breaches
    challenger = verdict.figures["challenger"]
    assert (challenger["requests"], challenger["errors"], challenger["error_rate"]) == (400, 0, 0.0)
    assert (challenger["shed"], challenger["shed_rate"]) == (100, 0.2)
    assert verdict.figures["checks"]["error_rate"].startswith("passed")
    assert breach.slo == "shed_rate"
    assert (breach.value, breach.limit) == (0.2, 0.05)
    assert "overloaded and refused 100 of 500 requests routed to the challenger" in breach.message
    assert "not model errors" in breach.message
    # A little shedding, under the limit, passes; and it is reported.
    light = judge_stage(_stage({"n": 2700}, {"n": 400, "shed": 4}), CONFIG)
    assert light.passed, light.summary()
    assert light.figures["checks"]["shed_rate"] == "passed (0.99% <= 5.00%)"


def test_latency_breach_message_shows_ratio_champion_and_slack() -> None:
    verdict = judge_stage(_stage({"n": 2700}, {"n": 300, "median_ms": 30.0}), CONFIG)
    (breach,) = verdict.breaches
    assert breach.slo == "p99_latency"
    assert "1.5 x champion" in breach.message
    assert "5 ms slack" in breach.message
    assert breach.limit == pytest.approx(1.5 * verdict.figures["champion"]["p99_ms"] + 5)
    assert verdict.figures["p99_ratio"] > 1.5


def test_the_slack_keeps_tiny_latencies_from_failing_on_noise() -> None:
    stage = _stage({"n": 2700, "median_ms": 0.3}, {"n": 300, "median_ms": 0.9})  # 3x, but sub-millisecond
    assert judge_stage(stage, CONFIG).passed
    strict = CONFIG.model_copy(update={"slo": CONFIG.slo.model_copy(update={"p99_slack_ms": 0})})
    assert [b.slo for b in judge_stage(stage, strict).breaches] == ["p99_latency"]


def test_too_few_scores_leave_psi_unjudged_not_failed() -> None:
    stage = _stage({"n": 2700}, {"n": 300, "score_shift": True, "rows_per_request": 1})  # 300 scores < 500
    verdict = judge_stage(stage, CONFIG)
    assert verdict.passed
    assert verdict.figures["score_psi"] is None
    assert verdict.figures["checks"]["score_psi"].startswith("not judged: 300 challenger")


def test_not_ready_judges_nothing_yet() -> None:
    verdict = judge_stage(_stage({"n": 900}, {"n": 100, "error_rate": 0.5}), CONFIG)
    assert (verdict.ready, verdict.passed, verdict.failed, verdict.breaches) == (False, False, False, ())
    assert verdict.figures["challenger"]["requests"] == 100
    assert verdict.summary() == "not ready: challenger served 100 of 200 requests"


def _full_stage(challenger: dict[str, Any]) -> tuple[MetricsSnapshot, VariantMetrics]:
    """The 50% stage (whose champion becomes the baseline), then the 100% stage."""
    server = FakeServer(seed=21)
    start = server.snapshot()
    server.serve(CHAMPION, 1500)
    server.serve(CHALLENGER, 1500)
    middle = server.snapshot()
    baseline = delta(middle, start).champion
    challenger = dict(challenger)
    server.serve(CHALLENGER, challenger.pop("n"), **challenger)
    return delta(server.snapshot(), middle), baseline


def test_the_100_percent_stage_compares_with_the_champion_baseline() -> None:
    stage, baseline = _full_stage({"n": 1000})
    assert stage.champion.requests == 0
    verdict = judge_stage(stage, CONFIG, champion_baseline=baseline)
    assert verdict.passed, verdict.summary()
    assert verdict.figures["champion_reference"] == "baseline"
    assert verdict.figures["reference"]["requests"] == 1500
    assert verdict.figures["checks"]["p99_latency"].startswith("passed")
    assert verdict.figures["checks"]["score_psi"].startswith("passed")


def test_the_100_percent_stage_catches_a_regression_against_the_baseline() -> None:
    stage, baseline = _full_stage({"n": 1000, "median_ms": 30.0, "score_shift": True})
    verdict = judge_stage(stage, CONFIG, champion_baseline=baseline)
    assert [b.slo for b in verdict.breaches] == ["p99_latency", "score_psi"]


def test_the_100_percent_stage_without_baseline_records_what_it_could_not_judge() -> None:
    stage, _ = _full_stage({"n": 1000, "median_ms": 30.0})
    verdict = judge_stage(stage, CONFIG)
    assert verdict.passed  # the error rate is still judged, and fine
    assert verdict.figures["champion_reference"] is None
    assert verdict.figures["checks"]["p99_latency"].startswith("not judged: no champion reference")
    assert verdict.figures["checks"]["score_psi"].startswith("not judged: no champion reference")


def test_a_baseline_is_ignored_while_the_champion_serves_enough() -> None:
    stage = _stage({"n": 2700}, {"n": 300})
    other = VariantMetrics(requests=1)
    assert judge_stage(stage, CONFIG, champion_baseline=other).figures["champion_reference"] == "stage"


def test_a_p99_of_too_few_latencies_is_not_judged() -> None:
    """Below slo.min_latency_samples a p99 is the slowest request: recorded as not judged, never a failure."""
    few = judge_stage(_stage({"n": 2700}, {"n": 60, "median_ms": 30.0}), CONFIG.model_copy(update={"min_requests": 50}))
    assert few.passed
    assert "not judged: 60 challenger" in few.figures["checks"]["p99_latency"]
    assert "slo.min_latency_samples" in few.figures["checks"]["p99_latency"]
