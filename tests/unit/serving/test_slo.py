"""The canary's SLO judge: parsing the server's real /metrics text, deltas, quantiles, PSI, verdicts, config."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from tradewind.serving.contract import (
    CHALLENGER,
    CHAMPION,
    ERRORS_TOTAL,
    INFERENCE_LOG_DROPPED,
    LATENCY_BUCKETS,
    LATENCY_SECONDS,
    REQUESTS_TOTAL,
    ROWS_TOTAL,
    SCORE,
    SCORE_BUCKETS,
)
from tradewind.serving.slo import (
    CanaryConfig,
    CanaryConfigError,
    MetricsSnapshot,
    SloConfig,
    VariantMetrics,
    delta,
    judge_stage,
    load_canary_config,
    parse_canary_config,
    parse_metrics,
    psi,
    quantile_from_buckets,
)

pytestmark = pytest.mark.unit

INF = math.inf
CONFIG = CanaryConfig(min_requests=200, slo=SloConfig(min_score_samples=500))


class FakeServer:
    """The server's metrics exactly as the contract declares them, in a registry of its own."""

    def __init__(self, seed: int = 0) -> None:
        self.registry = CollectorRegistry()
        self.rng = np.random.default_rng(seed)
        labels = ["variant"]
        self.requests = Counter(REQUESTS_TOTAL, "requests answered", labels, registry=self.registry)
        self.errors = Counter(ERRORS_TOTAL, "requests the model failed on", labels, registry=self.registry)
        self.latency = Histogram(
            LATENCY_SECONDS, "model time per request", labels, buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.score = Histogram(SCORE, "scores given", labels, buckets=SCORE_BUCKETS, registry=self.registry)
        self.rows = Counter(ROWS_TOTAL, "records scored", labels, registry=self.registry)
        self.dropped = Counter(INFERENCE_LOG_DROPPED, "records the log could not keep", registry=self.registry)

    def serve(
        self,
        variant: str,
        n: int,
        *,
        median_ms: float = 8.0,
        error_rate: float = 0.0,
        score_shift: bool = False,
        rows_per_request: int = 3,
    ) -> None:
        latencies = self.rng.lognormal(math.log(median_ms / 1000.0), 0.4, size=n)
        failed = self.rng.random(n) < error_rate
        for seconds, bad in zip(latencies, failed, strict=True):
            self.requests.labels(variant).inc()
            if bad:  # as the server counts a failure: a request and an error, no latency, no score
                self.errors.labels(variant).inc()
                continue
            self.latency.labels(variant).observe(float(seconds))
            a, b = (2.0, 10.0) if score_shift else (0.5, 20.0)
            for s in self.rng.beta(a, b, size=rows_per_request):
                self.score.labels(variant).observe(float(s))
            self.rows.labels(variant).inc(rows_per_request)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def snapshot(self) -> MetricsSnapshot:
        return parse_metrics(self.text())


# --------------------------------------------------------------------------------------------
# Parsing the real exposition
# --------------------------------------------------------------------------------------------


def test_parse_reads_every_contract_series_per_variant() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 90, error_rate=0.1)
    server.serve(CHALLENGER, 10)
    server.dropped.inc(4)  # unlabelled: not a variant's series, ignored
    snap = parse_metrics(server.text())

    assert set(snap.variants) == {CHAMPION, CHALLENGER}
    champ = snap.champion
    assert champ.requests == 90
    assert 0 < champ.errors < 90
    assert champ.rows == (90 - champ.errors) * 3
    assert champ.latency.bounds == (*LATENCY_BUCKETS, INF)
    assert champ.latency.count == 90 - champ.errors
    assert champ.latency.buckets[-1] == (INF, 90.0 - champ.errors)
    assert champ.score.bounds == (*SCORE_BUCKETS, INF)
    assert champ.score.count == champ.rows
    assert 0 < champ.score.sum < champ.score.count  # scores are probabilities
    assert champ.created is not None
    assert sum(champ.score.counts()) == champ.score.count
    assert snap.challenger.requests == 10
    assert snap.challenger.errors == 0


def test_parse_reads_openmetrics_the_same_way() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 30)
    server.serve(CHALLENGER, 7, error_rate=0.5)
    classic = parse_metrics(server.text())
    openmetrics = parse_metrics(generate_openmetrics(server.registry).decode())
    for variant in (CHAMPION, CHALLENGER):
        a, b = classic.variant(variant), openmetrics.variant(variant)
        assert (a.requests, a.errors, a.rows) == (b.requests, b.errors, b.rows)
        assert a.latency.buckets == b.latency.buckets
        assert a.score.buckets == b.score.buckets


def test_the_real_servers_metrics_parse() -> None:
    """The other side of the contract: what ``tradewind.serving.metrics`` renders reads back as served."""
    metrics_module = pytest.importorskip("tradewind.serving.metrics")
    metrics = metrics_module.ServingMetrics()
    metrics.scored(CHAMPION, 0.012, np.array([0.001, 0.03, 0.4]))
    metrics.scored(CHALLENGER, 0.2, np.array([0.9]))
    metrics.failed(CHALLENGER)
    snap = parse_metrics(metrics.render().decode())
    assert (snap.champion.requests, snap.champion.errors, snap.champion.rows) == (1, 0, 3)
    assert (snap.challenger.requests, snap.challenger.errors, snap.challenger.rows) == (2, 1, 1)
    assert snap.champion.score.bounds == (*SCORE_BUCKETS, INF)
    assert snap.champion.score.counts()[SCORE_BUCKETS.index(0.05)] == 1  # 0.03 is in (0.02, 0.05]
    assert snap.challenger.latency.quantile(0.5) == pytest.approx(0.2)  # half-way into (0.15, 0.25]


def test_a_variant_not_served_yet_reads_as_empty() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 5)
    snap = server.snapshot()
    assert snap.challenger == VariantMetrics()
    assert snap.challenger.error_rate is None
    assert snap.challenger.p99_seconds() is None


def test_series_with_extra_labels_are_summed_per_variant() -> None:
    text = (
        "# TYPE tradewind_requests_total counter\n"
        'tradewind_requests_total{variant="challenger",model_version="4"} 3\n'
        'tradewind_requests_total{variant="challenger",model_version="5"} 4\n'
        "# TYPE tradewind_request_latency_seconds histogram\n"
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="4",le="0.01"} 1\n'
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="4",le="+Inf"} 3\n'
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="5",le="0.01"} 2\n'
        'tradewind_request_latency_seconds_bucket{variant="challenger",model_version="5",le="+Inf"} 4\n'
        'tradewind_request_latency_seconds_count{variant="challenger",model_version="4"} 3\n'
        'tradewind_request_latency_seconds_count{variant="challenger",model_version="5"} 4\n'
    )
    challenger = parse_metrics(text).challenger
    assert challenger.requests == 7
    assert challenger.latency.buckets == ((0.01, 3.0), (INF, 7.0))
    assert challenger.latency.count == 7


def test_snapshots_round_trip_through_strict_json() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 20)
    server.serve(CHALLENGER, 20, error_rate=0.2)
    snap = server.snapshot()
    text = json.dumps(snap.to_dict(), allow_nan=False)
    assert MetricsSnapshot.from_dict(json.loads(text)) == snap


# --------------------------------------------------------------------------------------------
# Deltas and restarts
# --------------------------------------------------------------------------------------------


def test_delta_is_what_happened_between_two_snapshots() -> None:
    server = FakeServer()
    server.serve(CHAMPION, 50)
    start = server.snapshot()
    server.serve(CHAMPION, 30, error_rate=1.0)
    server.serve(CHALLENGER, 12)
    stage = delta(server.snapshot(), start)

    assert stage.resets == ()
    assert stage.champion.requests == 30
    assert stage.champion.errors == 30
    assert stage.champion.latency.count == 0  # every request failed: no latency, no scores in the stage
    assert stage.champion.latency.buckets[-1] == (INF, 0.0)
    assert stage.champion.score.count == 0
    assert stage.challenger.requests == 12  # absent at the start: all of it is new
    assert all(c >= 0 for _, c in stage.champion.latency.buckets)


def test_a_counter_going_down_is_a_restart_and_after_is_the_delta(caplog: pytest.LogCaptureFixture) -> None:
    before_restart = FakeServer(seed=1)
    before_restart.serve(CHALLENGER, 100)
    start = before_restart.snapshot()
    restarted = FakeServer(seed=2)
    restarted.serve(CHALLENGER, 40)
    now = restarted.snapshot()

    stage = delta(now, start)
    assert stage.resets == (CHALLENGER,)
    assert stage.challenger == now.challenger
    assert "restarted" in caplog.text


def test_a_restart_that_already_served_more_is_caught_by_the_created_time() -> None:
    old = FakeServer(seed=1)
    old.serve(CHALLENGER, 10)
    start = old.snapshot()
    new = FakeServer(seed=2)  # a new process: new ``_created`` times
    new.serve(CHALLENGER, 25)
    now = new.snapshot()
    assert now.challenger.created != start.challenger.created

    stage = delta(now, start)
    assert stage.resets == (CHALLENGER,)
    assert stage.challenger.requests == 25  # not 25 - 10


def test_a_variant_that_vanished_is_a_restart_too() -> None:
    old = FakeServer(seed=1)
    old.serve(CHAMPION, 10)
    old.serve(CHALLENGER, 10)
    new = FakeServer(seed=2)
    new.serve(CHAMPION, 5)
    stage = delta(new.snapshot(), old.snapshot())
    assert stage.resets == (CHALLENGER, CHAMPION)  # sorted; the champion restarted as well
    assert stage.challenger == VariantMetrics()


def test_a_restart_is_named_in_the_verdict_figures() -> None:
    old = FakeServer(seed=1)
    old.serve(CHALLENGER, 500)
    new = FakeServer(seed=2)
    new.serve(CHAMPION, 2000)
    new.serve(CHALLENGER, 300)
    verdict = judge_stage(delta(new.snapshot(), old.snapshot()), CONFIG)
    assert verdict.figures["resets"] == [CHALLENGER]


# --------------------------------------------------------------------------------------------
# Quantiles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        ([(1.0, 10), (2.0, 20), (INF, 20)], 0.5, 1.0),  # rank 10 at the top of the first bucket
        ([(1.0, 10), (2.0, 20), (INF, 20)], 0.75, 1.5),  # linear inside (1, 2]
        ([(1.0, 10), (2.0, 20), (INF, 20)], 0.0, 0.0),
        ([(1.0, 10), (INF, 20)], 0.99, 1.0),  # rank in +Inf: the highest finite bound
        ([(0.0, 5), (1.0, 10), (INF, 10)], 0.2, 0.0),  # first bound <= 0: that bound
        ([(2.0, 20), (INF, 20), (1.0, 10)], 0.75, 1.5),  # order does not matter
        ([(1.0, 10), (2.0, 8), (INF, 20)], 0.5, 1.0),  # non-monotonic counts are made monotonic
    ],
)
def test_quantile_matches_prometheus_histogram_quantile(
    buckets: list[tuple[float, float]], q: float, expected: float
) -> None:
    assert quantile_from_buckets(buckets, q) == pytest.approx(expected)


@pytest.mark.parametrize(
    "buckets",
    [[], [(INF, 5)], [(1.0, 3), (2.0, 5)], [(1.0, 0), (INF, 0)]],
    ids=["empty", "only-inf", "no-inf", "no-observations"],
)
def test_quantile_is_none_where_prometheus_says_nan(buckets: list[tuple[float, float]]) -> None:
    assert quantile_from_buckets(buckets, 0.5) is None


@pytest.mark.parametrize("q", [-0.1, 1.5, math.nan])
def test_quantile_refuses_q_outside_0_1(q: float) -> None:
    with pytest.raises(ValueError, match="q must be within"):
        quantile_from_buckets([(1.0, 1), (INF, 1)], q)


def _bucket_of(value: float, bounds: tuple[float, ...]) -> tuple[float, float]:
    lower = 0.0
    for upper in bounds:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, INF


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_quantile_estimate_is_within_a_bucket_of_numpys(q: float) -> None:
    server = FakeServer(seed=7)
    rng = np.random.default_rng(7)
    samples = rng.lognormal(math.log(0.012), 0.6, size=20_000)
    for s in samples:
        server.latency.labels(CHALLENGER).observe(float(s))
    estimate = server.snapshot().challenger.latency.quantile(q)
    exact = float(np.quantile(samples, q))
    lower, upper = _bucket_of(exact, LATENCY_BUCKETS)
    assert estimate is not None
    assert lower - 1e-12 <= estimate <= upper + 1e-12, (q, exact, estimate, (lower, upper))


# --------------------------------------------------------------------------------------------
# PSI
# --------------------------------------------------------------------------------------------


def test_psi_of_identical_histograms_is_zero() -> None:
    counts = [5, 40, 120, 300, 80, 0, 3]
    assert psi(counts, counts) == pytest.approx(0.0, abs=1e-12)
    assert psi(counts, [c * 10 for c in counts]) == pytest.approx(0.0, abs=1e-12)  # proportions, not counts


def test_psi_rises_with_the_shift() -> None:
    rng = np.random.default_rng(3)
    edges = np.linspace(-4, 6, 21)
    base = rng.normal(0, 1, 50_000)
    reference = np.histogram(base, bins=edges)[0]
    values = [psi(reference, np.histogram(rng.normal(shift, 1, 50_000), bins=edges)[0]) for shift in (0, 0.25, 0.5, 1)]
    assert values[0] < 0.01
    assert values == sorted(values)
    assert values[-1] > 0.5


def test_psi_smooths_empty_buckets() -> None:
    value = psi([100, 0, 0], [0, 0, 100])
    assert math.isfinite(value)
    assert value > 1


@pytest.mark.parametrize(
    ("expected", "actual", "match"),
    [
        ([1, 2], [1, 2, 3], "buckets"),
        ([], [], "no buckets"),
        ([0, 0], [1, 1], "without observations"),
        ([1, -1], [1, 1], "negative"),
    ],
)
def test_psi_refuses_bad_input(expected: list[float], actual: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        psi(expected, actual)


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def test_the_shipped_config_loads_with_its_documented_values() -> None:
    config = load_canary_config()
    assert config.stages == (10, 50, 100)
    assert (config.bake_seconds, config.min_requests) == (300, 200)
    assert (config.poll_interval_seconds, config.stage_timeout_seconds) == (30, 3600)
    assert config.slo == SloConfig(
        max_error_rate=0.01, max_p99_ratio=1.5, p99_slack_ms=5, max_score_psi=0.2, min_score_samples=500
    )
    assert config == CanaryConfig()  # the file states the defaults


@pytest.mark.parametrize(
    ("data", "key", "match"),
    [
        ({"stages": [50, 10, 100]}, "stages", "strictly ascending"),
        ({"stages": [10, 50]}, "stages", "last stage must be 100"),
        ({"stages": [0, 100]}, "stages", "1..100"),
        ({"stages": []}, "stages", "at least one stage"),
        ({"min_requests": 0}, "min_requests", "greater than or equal to 1"),
        ({"bake_seconds": -1}, "bake_seconds", "greater than or equal to 0"),
        ({"slo": {"max_error_rate": 2}}, "slo.max_error_rate", "less than or equal to 1"),
        ({"slo": {"max_p99_ratio": 0.5}}, "slo.max_p99_ratio", "greater than or equal to 1"),
        ({"slo": {"max_error_rat": 0.1}}, "slo.max_error_rat", "Extra inputs are not permitted"),
        ({"bake": 10}, "bake", "Extra inputs are not permitted"),
        ({"bake_seconds": 600, "stage_timeout_seconds": 60}, "stage_timeout_seconds", "at least bake_seconds"),
    ],
)
def test_bad_config_errors_name_the_file_and_the_key(
    tmp_path: Path, data: dict[str, Any], key: str, match: str
) -> None:
    import yaml

    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(CanaryConfigError) as err:
        load_canary_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid canary config")
    assert key in message, message
    assert match in message, message


def test_config_file_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CanaryConfigError, match=r"missing\.yaml: canary config file not found"):
        load_canary_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [10, 50\n", encoding="utf-8")
    with pytest.raises(CanaryConfigError, match=r"bad\.yaml: not valid YAML"):
        load_canary_config(bad)
    with pytest.raises(CanaryConfigError, match="must be a mapping"):
        parse_canary_config([10, 50, 100], origin="x.yaml")


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_canary_config(path) == CanaryConfig()


def test_a_p99_of_too_few_latencies_is_not_judged() -> None:
    """Below slo.min_latency_samples a p99 is the slowest request: recorded as not judged, never a failure."""
    few = judge_stage(_stage({"n": 2700}, {"n": 60, "median_ms": 30.0}), CONFIG.model_copy(update={"min_requests": 50}))
    assert few.passed
    assert "not judged: 60 challenger" in few.figures["checks"]["p99_latency"]
    assert "slo.min_latency_samples" in few.figures["checks"]["p99_latency"]
