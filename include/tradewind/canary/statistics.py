"""The statistics the canary judges with: histogram quantiles and the population stability index.

:func:`quantile_from_buckets` estimates a quantile from cumulative Prometheus buckets exactly as
PromQL's ``histogram_quantile`` does (the p99 latency SLO); :func:`psi` compares two histograms
over the same buckets (the score-drift SLO). Pure functions over numbers: nothing of the project.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["EPS", "INF", "PSI_EPS", "psi", "quantile_from_buckets"]

INF = math.inf
# Proportion given to an empty bucket before the PSI's logarithm (then renormalised).
PSI_EPS = 1e-4
# Figures are compared after rounding noise: a value equal to its limit as written passes.
EPS = 1e-9


def quantile_from_buckets(buckets: Iterable[tuple[float, float]], q: float) -> float | None:
    """The ``q``-quantile of a histogram, as PromQL's ``histogram_quantile`` estimates it.

    ``buckets`` are cumulative ``(upper bound, count)`` pairs; the last bound must be ``+Inf``.
    Linear interpolation inside the bucket that holds the rank, the first bucket starting at 0
    (unless its bound is <= 0); a rank that falls in the ``+Inf`` bucket gives the highest finite
    bound. Where Prometheus answers NaN (no ``+Inf`` bucket, fewer than two buckets, no
    observations) this returns ``None``. Counts that go down across buckets (a scrape racing an
    observation) are made monotonic first, as Prometheus does.
    """
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        raise ValueError(f"quantile_from_buckets: q must be within [0, 1], got {q}")
    ordered = sorted((float(le), float(c)) for le, c in buckets)
    # Buckets with the same bound (series summed over other labels) count once, summed.
    merged: list[list[float]] = []
    for le, c in ordered:
        if merged and merged[-1][0] == le:
            merged[-1][1] += c
        else:
            merged.append([le, c])
    if len(merged) < 2 or merged[-1][0] != INF:
        return None
    running = 0.0
    for item in merged:
        running = item[1] = max(running, item[1])
    total = merged[-1][1]
    if total <= 0:
        return None
    rank = q * total
    b = next((i for i, (_, c) in enumerate(merged[:-1]) if c >= rank), len(merged) - 1)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)


def _proportions(counts: Sequence[float], eps: float) -> list[float]:
    total = float(sum(counts))
    if total <= 0:
        raise ValueError("psi: a histogram without observations has no distribution")
    smoothed = [max(c / total, eps) for c in counts]
    norm = sum(smoothed)
    return [p / norm for p in smoothed]


def psi(expected_counts: Iterable[float], actual_counts: Iterable[float], eps: float = PSI_EPS) -> float:
    """Population stability index of ``actual`` against ``expected`` over the same buckets.

    ``sum((a - e) * ln(a / e))`` over bucket proportions; an empty bucket counts as proportion
    ``eps`` (then both sides are renormalised), so one empty bucket cannot make the index
    infinite. 0 for identical distributions; by the usual rule of thumb < 0.1 is stable,
    0.1-0.25 a moderate shift, > 0.25 a large one.
    """
    e_counts = [float(c) for c in expected_counts]  # lists, numpy arrays, histogram counts alike
    a_counts = [float(c) for c in actual_counts]
    if len(e_counts) != len(a_counts):
        raise ValueError(f"psi: {len(e_counts)} expected buckets but {len(a_counts)} actual buckets")
    if not e_counts:
        raise ValueError("psi: no buckets")
    if any(c < 0 or math.isnan(c) for c in (*e_counts, *a_counts)):
        raise ValueError("psi: counts must not be negative or NaN")
    if not 0 < eps < 1:
        raise ValueError(f"psi: eps must be in (0, 1), got {eps}")
    expected = _proportions(e_counts, eps)
    actual = _proportions(a_counts, eps)
    return float(sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True)))
