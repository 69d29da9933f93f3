"""The canary's statistics: histogram quantiles (as PromQL's histogram_quantile) and PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.unit.canary.fakes import FakeServer
from tradewind.canary.statistics import psi, quantile_from_buckets
from tradewind.serving.contract import CHALLENGER, LATENCY_BUCKETS

pytestmark = pytest.mark.unit

INF = math.inf


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
