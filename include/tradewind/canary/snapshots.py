"""Snapshots of the model server's ``/metrics``, per variant, and the difference of two of them.

:func:`parse_metrics` reads a Prometheus (or OpenMetrics) text exposition into a
:class:`MetricsSnapshot`: per ``variant`` label, a :class:`VariantMetrics` of the contract's
counters and :class:`Histogram` s (the names, labels and buckets come from
:mod:`tradewind.serving.contract`, the parsing from ``prometheus_client``'s own parser, so the
canary reads exactly what the server exposes). The series are cumulative since the server started,
so a stage is :func:`delta` of the snapshot of now and the one of the stage's start; a restart in
between is detected and named. Snapshots round-trip through ``to_dict``/``from_dict`` (plain JSON)
so a trigger or an XCom can carry them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from tradewind.canary.statistics import EPS, INF, quantile_from_buckets
from tradewind.serving.contract import (
    CHALLENGER,
    CHAMPION,
    ERRORS_TOTAL,
    LATENCY_SECONDS,
    REQUESTS_TOTAL,
    ROWS_TOTAL,
    SCORE,
    SHED_TOTAL,
)

__all__ = ["Histogram", "MetricsSnapshot", "VariantMetrics", "delta", "parse_metrics"]

log = logging.getLogger(__name__)

VARIANT_LABEL = "variant"
BUCKET_LABEL = "le"


def _le_text(bound: float) -> str:
    return "+Inf" if bound == INF else repr(bound)


@dataclass(frozen=True)
class Histogram:
    """A Prometheus histogram: cumulative ``(upper bound, count)`` buckets ending with ``+Inf``."""

    buckets: tuple[tuple[float, float], ...] = ()
    sum: float = 0.0
    count: float = 0.0

    @property
    def bounds(self) -> tuple[float, ...]:
        return tuple(le for le, _ in self.buckets)

    def counts(self) -> list[float]:
        """Observations per bucket (not cumulative), in bucket order."""
        out, previous = [], 0.0
        for _, cumulative in self.buckets:
            out.append(max(cumulative - previous, 0.0))
            previous = max(previous, cumulative)
        return out

    def quantile(self, q: float) -> float | None:
        return quantile_from_buckets(self.buckets, q)

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": [[_le_text(le), c] for le, c in self.buckets], "sum": self.sum, "count": self.count}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        buckets = tuple((float(le), float(c)) for le, c in data.get("buckets", ()))
        return cls(buckets=buckets, sum=float(data.get("sum", 0.0)), count=float(data.get("count", 0.0)))


@dataclass(frozen=True)
class VariantMetrics:
    """What one variant's series say: counters and histograms, cumulative in a snapshot."""

    requests: float = 0.0
    errors: float = 0.0
    rows: float = 0.0
    latency: Histogram = field(default_factory=Histogram)
    score: Histogram = field(default_factory=Histogram)
    # Requests refused by admission control (503 + Retry-After): not in ``requests`` or ``errors``.
    shed: float = 0.0
    # ``<series>_created`` of the requests counter: a new value means the server restarted.
    created: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    @property
    def shed_rate(self) -> float | None:
        """Refused / (answered + refused): the share of the variant's traffic the server was too busy for."""
        offered = self.requests + self.shed
        return self.shed / offered if offered > 0 else None

    def p99_seconds(self) -> float | None:
        return self.latency.quantile(0.99)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rows": self.rows,
            "latency": self.latency.to_dict(),
            "score": self.score.to_dict(),
            "shed": self.shed,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantMetrics:
        created = data.get("created")
        return cls(
            requests=float(data.get("requests", 0.0)),
            errors=float(data.get("errors", 0.0)),
            rows=float(data.get("rows", 0.0)),
            latency=Histogram.from_dict(data.get("latency") or {}),
            score=Histogram.from_dict(data.get("score") or {}),
            shed=float(data.get("shed", 0.0)),
            created=float(created) if created is not None else None,
        )


@dataclass(frozen=True)
class MetricsSnapshot:
    """Every variant's metrics at one moment (or, from :func:`delta`, over one interval).

    ``resets`` names the variants whose series restarted inside the interval (only set by
    :func:`delta`); for them the figures are the counts since the restart, not the whole interval.
    """

    variants: Mapping[str, VariantMetrics] = field(default_factory=dict)
    resets: tuple[str, ...] = ()

    def variant(self, name: str) -> VariantMetrics:
        """A variant's metrics; an empty one when the server has not served it yet."""
        return self.variants.get(name) or VariantMetrics()

    @property
    def champion(self) -> VariantMetrics:
        return self.variant(CHAMPION)

    @property
    def challenger(self) -> VariantMetrics:
        return self.variant(CHALLENGER)

    def to_dict(self) -> dict[str, Any]:
        return {"variants": {k: v.to_dict() for k, v in sorted(self.variants.items())}, "resets": list(self.resets)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricsSnapshot:
        variants = {str(k): VariantMetrics.from_dict(v) for k, v in (data.get("variants") or {}).items()}
        return cls(variants=variants, resets=tuple(data.get("resets") or ()))


@dataclass
class _Acc:
    requests: float = 0.0
    errors: float = 0.0
    rows: float = 0.0
    shed: float = 0.0
    created: float | None = None
    hist: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {n: {"buckets": {}, "sum": 0.0, "count": 0.0} for n in ("latency", "score")}
    )


_HISTOGRAMS = {LATENCY_SECONDS: "latency", SCORE: "score"}
_COUNTERS = {REQUESTS_TOTAL: "requests", ERRORS_TOTAL: "errors", ROWS_TOTAL: "rows", SHED_TOTAL: "shed"}
_REQUESTS_CREATED = REQUESTS_TOTAL.removesuffix("_total") + "_created"


def _take(acc: _Acc, name: str, labels: Mapping[str, str], value: float) -> None:
    if name in _COUNTERS:
        attr = _COUNTERS[name]
        setattr(acc, attr, getattr(acc, attr) + value)
    elif name == _REQUESTS_CREATED:
        acc.created = value if acc.created is None else min(acc.created, value)
    else:
        for base, key in _HISTOGRAMS.items():
            suffix = name.removeprefix(base)
            if suffix == name:
                continue
            hist = acc.hist[key]
            if suffix == "_bucket" and BUCKET_LABEL in labels:
                le = float(labels[BUCKET_LABEL])
                hist["buckets"][le] = hist["buckets"].get(le, 0.0) + value
            elif suffix in ("_sum", "_count"):
                hist[suffix[1:]] += value
            return


def parse_metrics(text: str) -> MetricsSnapshot:
    """The contract's series in a Prometheus text exposition, per ``variant`` label.

    Series of other names are ignored; a series without a ``variant`` label is ignored too. Should
    the server add labels beside ``variant`` (a model version, a status), their series are summed
    per variant, bucket by bucket.
    """
    accs: dict[str, _Acc] = {}
    # OpenMetrics (served to a scraper that asks for it) ends with "# EOF" and has its own parser.
    parse = openmetrics_families if text.rstrip().endswith("# EOF") else text_string_to_metric_families
    for family in parse(text):
        for sample in family.samples:
            variant = sample.labels.get(VARIANT_LABEL)
            if variant is None:
                continue
            _take(accs.setdefault(variant, _Acc()), sample.name, sample.labels, float(sample.value))
    return MetricsSnapshot(variants={name: _freeze(acc) for name, acc in sorted(accs.items())})


def _freeze(acc: _Acc) -> VariantMetrics:
    hists = {
        key: Histogram(buckets=tuple(sorted(h["buckets"].items())), sum=h["sum"], count=h["count"])
        for key, h in acc.hist.items()
    }
    return VariantMetrics(
        requests=acc.requests,
        errors=acc.errors,
        rows=acc.rows,
        latency=hists["latency"],
        score=hists["score"],
        shed=acc.shed,
        created=acc.created,
    )


def _hist_went_down(after: Histogram, before: Histogram) -> bool:
    if after.count < before.count or after.sum < before.sum - EPS:
        return True
    if before.buckets and after.bounds != before.bounds:
        return True  # the server changed its buckets: it restarted with another configuration
    return any(a < b for (_, a), (_, b) in zip(after.buckets, before.buckets, strict=False))


def _restarted(after: VariantMetrics, before: VariantMetrics) -> bool:
    if after.created is not None and before.created is not None and abs(after.created - before.created) > EPS:
        return True
    if any(getattr(after, c) < getattr(before, c) for c in ("requests", "errors", "rows", "shed")):
        return True
    return _hist_went_down(after.latency, before.latency) or _hist_went_down(after.score, before.score)


def _hist_delta(after: Histogram, before: Histogram) -> Histogram:
    if not before.buckets:
        return replace(after)
    buckets = tuple((le, a - b) for (le, a), (_, b) in zip(after.buckets, before.buckets, strict=True))
    return Histogram(buckets=buckets, sum=after.sum - before.sum, count=after.count - before.count)


def _variant_delta(after: VariantMetrics, before: VariantMetrics) -> VariantMetrics:
    return VariantMetrics(
        requests=after.requests - before.requests,
        errors=after.errors - before.errors,
        rows=after.rows - before.rows,
        latency=_hist_delta(after.latency, before.latency),
        score=_hist_delta(after.score, before.score),
        shed=after.shed - before.shed,
        created=after.created,
    )


def delta(after: MetricsSnapshot, before: MetricsSnapshot) -> MetricsSnapshot:
    """What happened between two snapshots of the same server: ``after - before``, per variant.

    Counters and histograms are cumulative since the server (or the series) started. When a
    variant's series restarted in between (its ``_created`` time changed, a counter or bucket
    went down, or its buckets changed), ``after`` alone is that variant's delta: the counts since
    the restart, an undercount of the interval. The variant is named in ``resets`` and a warning is
    logged, so the verdict says so rather than judging on negative figures. A variant present
    before and absent after (restarted, not served since) is named in ``resets`` too, and reads as
    empty.
    """
    variants: dict[str, VariantMetrics] = {}
    resets: list[str] = []
    for name, now in after.variants.items():
        then = before.variants.get(name)
        if then is None:
            variants[name] = now
        elif _restarted(now, then):
            log.warning(
                "Metrics of variant %s restarted between the snapshots (requests %s -> %s): "
                "judging on the counts since the restart",
                name,
                then.requests,
                now.requests,
            )
            resets.append(name)
            variants[name] = now
        else:
            variants[name] = _variant_delta(now, then)
    vanished = sorted(set(before.variants) - set(after.variants))
    if vanished:
        # Its series are gone: the server restarted and has not served that variant since.
        log.warning("Metrics of variant(s) %s vanished between the snapshots: the server restarted", vanished)
        resets.extend(vanished)
    carried = set(resets) | set(before.resets) | set(after.resets)
    return MetricsSnapshot(variants=variants, resets=tuple(sorted(carried)))
