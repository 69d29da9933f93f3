"""The canary's decisions: pure functions over the model server's ``/metrics`` text and a config.

The canary moves the challenger's traffic through ``stages`` (10% -> 50% -> 100% by default). At
each stage the Airflow layer takes a snapshot of ``/metrics`` when the stage starts, waits for
``bake_seconds`` *and* ``min_requests`` challenger requests (polling every
``poll_interval_seconds``, giving up after ``stage_timeout_seconds``), and then judges the stage on
the difference between the snapshot of now and the one of the start::

    start = parse_metrics(text_at_stage_start)
    verdict = judge_stage(delta(parse_metrics(text_now), start), config, champion_baseline=...)
    if verdict.ready and verdict.passed: ...next stage...
    elif verdict.failed: ...roll back, log verdict.breaches...

Nothing here talks to the server or to Airflow: the metric names, labels and buckets come from
:mod:`tradewind.serving.contract`, the parsing from ``prometheus_client``'s own text parser, so the
judge reads exactly what the server exposes. Snapshots round-trip through :meth:`MetricsSnapshot.to_dict`
and :meth:`MetricsSnapshot.from_dict` (plain JSON) so a trigger or an XCom can carry them.

SLOs judged on the challenger (every breach names the SLO, the figure and the limit):

- ``error_rate``: challenger errors / challenger requests ``<= slo.max_error_rate``;
- ``p99_latency``: challenger p99 ``<= slo.max_p99_ratio`` x champion p99 ``+ slo.p99_slack_ms``
  (the slack keeps two tiny latencies from failing on noise);
- ``score_psi``: PSI between the champion's and the challenger's score histograms
  ``<= slo.max_score_psi``, judged only with ``slo.min_score_samples`` scores on each side.

The champion reference for the last two is the champion's own traffic in the same stage. At the
100% stage the champion serves nothing, so the caller passes ``champion_baseline`` (the champion's
delta from the previous stage) and the figures say which reference was used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tradewind.data.spec import SpecError, format_validation_error, read_yaml
from tradewind.serving.contract import (
    CHALLENGER,
    CHAMPION,
    ERRORS_TOTAL,
    LATENCY_SECONDS,
    REQUESTS_TOTAL,
    ROWS_TOTAL,
    SCORE,
)
from tradewind.settings import CONFIG_DIR

__all__ = [
    "Breach",
    "CanaryConfig",
    "CanaryConfigError",
    "Histogram",
    "MetricsSnapshot",
    "SloConfig",
    "StageVerdict",
    "VariantMetrics",
    "delta",
    "get_canary_config",
    "judge_stage",
    "load_canary_config",
    "parse_canary_config",
    "parse_metrics",
    "psi",
    "quantile_from_buckets",
]

log = logging.getLogger(__name__)

CONFIG_FILE = "canary.yaml"
VARIANT_LABEL = "variant"
BUCKET_LABEL = "le"
INF = math.inf
# Proportion given to an empty bucket before the PSI's logarithm (then renormalised).
PSI_EPS = 1e-4
# Figures are compared after rounding noise: a value equal to its limit as written passes.
EPS = 1e-9

Reference = Literal["stage", "baseline"]


# --------------------------------------------------------------------------------------------
# Configuration: include/config/canary.yaml
# --------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SloConfig(_Strict):
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p99_ratio: float = Field(default=1.5, ge=1)
    p99_slack_ms: float = Field(default=5.0, ge=0)
    min_latency_samples: int = Field(default=100, ge=1)
    max_score_psi: float = Field(default=0.2, gt=0)
    min_score_samples: int = Field(default=500, ge=1)


class CanaryConfig(_Strict):
    stages: tuple[int, ...] = (10, 50, 100)
    bake_seconds: float = Field(default=300, ge=0)
    min_requests: int = Field(default=200, ge=1)
    poll_interval_seconds: float = Field(default=30, gt=0)
    stage_timeout_seconds: float = Field(default=3600, gt=0)
    slo: SloConfig = SloConfig()

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: tuple[int, ...]) -> tuple[int, ...]:
        if not stages:
            raise ValueError("needs at least one stage (the last must be 100)")
        if any(not 0 < s <= 100 for s in stages):
            raise ValueError("every stage is a challenger percent in 1..100")
        if any(b <= a for a, b in pairwise(stages)):
            raise ValueError("stages must be strictly ascending")
        if stages[-1] != 100:
            raise ValueError("the last stage must be 100 (the challenger takes all traffic before promotion)")
        return stages

    @model_validator(mode="after")
    def _timings(self) -> CanaryConfig:
        if self.stage_timeout_seconds < self.bake_seconds:
            raise ValueError(
                f"stage_timeout_seconds ({self.stage_timeout_seconds:g}) must be at least "
                f"bake_seconds ({self.bake_seconds:g}): a stage could never finish baking"
            )
        if self.poll_interval_seconds > self.stage_timeout_seconds:
            raise ValueError(
                f"poll_interval_seconds ({self.poll_interval_seconds:g}) must not exceed "
                f"stage_timeout_seconds ({self.stage_timeout_seconds:g})"
            )
        return self


class CanaryConfigError(SpecError):
    """``canary.yaml`` is malformed; the message names the file and the key."""


def parse_canary_config(data: Any, origin: str = "<canary config>") -> CanaryConfig:
    if not isinstance(data, Mapping):
        raise CanaryConfigError(f"{origin}: a canary config must be a mapping, got {type(data).__name__}")
    try:
        return CanaryConfig.model_validate(dict(data))
    except ValidationError as err:
        raise CanaryConfigError(format_validation_error(origin, err, "canary config")) from None


def load_canary_config(path: str | Path | None = None) -> CanaryConfig:
    """Load and check ``canary.yaml`` (default: ``include/config/canary.yaml``)."""
    path = Path(path) if path is not None else CONFIG_DIR / CONFIG_FILE
    raw = read_yaml(path, "canary config", CanaryConfigError)
    return parse_canary_config(raw or {}, origin=str(path))


@lru_cache(maxsize=1)
def get_canary_config() -> CanaryConfig:
    """The canary config of this process (read once)."""
    return load_canary_config()


# --------------------------------------------------------------------------------------------
# Snapshots of /metrics
# --------------------------------------------------------------------------------------------


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
    # ``<series>_created`` of the requests counter: a new value means the server restarted.
    created: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    def p99_seconds(self) -> float | None:
        return self.latency.quantile(0.99)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rows": self.rows,
            "latency": self.latency.to_dict(),
            "score": self.score.to_dict(),
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
    created: float | None = None
    hist: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {n: {"buckets": {}, "sum": 0.0, "count": 0.0} for n in ("latency", "score")}
    )


_HISTOGRAMS = {LATENCY_SECONDS: "latency", SCORE: "score"}
_COUNTERS = {REQUESTS_TOTAL: "requests", ERRORS_TOTAL: "errors", ROWS_TOTAL: "rows"}
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
        created=acc.created,
    )


# --------------------------------------------------------------------------------------------
# Differences of cumulative snapshots
# --------------------------------------------------------------------------------------------


def _hist_went_down(after: Histogram, before: Histogram) -> bool:
    if after.count < before.count or after.sum < before.sum - EPS:
        return True
    if before.buckets and after.bounds != before.bounds:
        return True  # the server changed its buckets: it restarted with another configuration
    return any(a < b for (_, a), (_, b) in zip(after.buckets, before.buckets, strict=False))


def _restarted(after: VariantMetrics, before: VariantMetrics) -> bool:
    if after.created is not None and before.created is not None and abs(after.created - before.created) > EPS:
        return True
    if after.requests < before.requests or after.errors < before.errors or after.rows < before.rows:
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


# --------------------------------------------------------------------------------------------
# Statistics: histogram quantiles and the population stability index
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    slo: str  # error_rate | p99_latency | score_psi
    value: float
    limit: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"slo": self.slo, "value": self.value, "limit": self.limit, "message": self.message}


@dataclass(frozen=True)
class StageVerdict:
    """The judgement of one stage.

    ``ready``: the challenger has served ``min_requests`` in the stage, so the SLOs were judged.
    ``passed``: ready and no SLO breached. ``failed``: ready and at least one breach (roll back).
    Not ready is neither: keep waiting until the stage's timeout. ``figures`` holds everything
    measured, JSON-ready, for the task log and the run's record.
    """

    ready: bool
    passed: bool
    breaches: tuple[Breach, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.ready and bool(self.breaches)

    def summary(self) -> str:
        if not self.ready:
            return (
                f"not ready: challenger served {self.figures.get('challenger', {}).get('requests', 0):g} "
                f"of {self.figures.get('min_requests')} requests"
            )
        if self.passed:
            return "passed: " + "; ".join(f"{k} {v}" for k, v in self.figures.get("checks", {}).items())
        return "failed: " + "; ".join(b.message for b in self.breaches)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _side(metrics: VariantMetrics) -> dict[str, Any]:
    return {
        "requests": metrics.requests,
        "errors": metrics.errors,
        "rows": metrics.rows,
        "error_rate": metrics.error_rate,
        "p99_ms": _ms(metrics.p99_seconds()),
        "score_samples": metrics.score.count,
    }


def _reference(
    stage: MetricsSnapshot, config: CanaryConfig, baseline: VariantMetrics | None
) -> tuple[VariantMetrics | None, Reference | None]:
    """The champion figures to compare with.

    This stage's champion when it served ``min_requests``; else the baseline when one is given
    (the 100% stage); else this stage's champion if it served anything at all (a thin reference,
    its request count is in the figures); else none.
    """
    if stage.champion.requests >= config.min_requests:
        return stage.champion, "stage"
    if baseline is not None:
        return baseline, "baseline"
    if stage.champion.requests > 0:
        return stage.champion, "stage"
    return None, None


def _check_error_rate(challenger: VariantMetrics, slo: SloConfig) -> tuple[str, Breach | None]:
    rate = challenger.error_rate
    if rate is None:
        return "not judged: no challenger requests", None
    if rate <= slo.max_error_rate + EPS:
        return f"passed ({rate:.2%} <= {slo.max_error_rate:.2%})", None
    message = (
        f"error rate {rate:.1%} > {slo.max_error_rate:.1%} "
        f"({challenger.errors:g} errors in {challenger.requests:g} challenger requests; slo.max_error_rate)"
    )
    return "breached", Breach("error_rate", rate, slo.max_error_rate, message)


def _check_p99(
    challenger: VariantMetrics, reference: VariantMetrics | None, slo: SloConfig, figures: dict[str, Any]
) -> tuple[str, Breach | None]:
    if reference is None:
        return "not judged: no champion reference (the champion served too little and no baseline was given)", None
    n_mine, n_theirs = challenger.latency.count, reference.latency.count
    if min(n_mine, n_theirs) < slo.min_latency_samples:
        return (
            f"not judged: {n_mine:g} challenger and {n_theirs:g} champion latencies "
            f"(needs {slo.min_latency_samples} each; slo.min_latency_samples)"
        ), None
    mine, theirs = _ms(challenger.p99_seconds()), _ms(reference.p99_seconds())
    if mine is None or theirs is None:
        side = "challenger" if mine is None else "champion reference"
        return f"not judged: no latency observations on the {side}", None
    allowed = slo.max_p99_ratio * theirs + slo.p99_slack_ms
    figures["p99_ratio"] = mine / theirs if theirs > 0 else None
    figures["p99_allowed_ms"] = allowed
    if mine <= allowed + EPS:
        return f"passed ({mine:.1f} ms <= {allowed:.1f} ms)", None
    message = (
        f"p99 latency {mine:.1f} ms > {allowed:.1f} ms "
        f"({slo.max_p99_ratio:g} x champion {theirs:.1f} ms + {slo.p99_slack_ms:g} ms slack; "
        "slo.max_p99_ratio, slo.p99_slack_ms)"
    )
    return "breached", Breach("p99_latency", mine, allowed, message)


def _check_psi(
    challenger: VariantMetrics, reference: VariantMetrics | None, slo: SloConfig, figures: dict[str, Any]
) -> tuple[str, Breach | None]:
    if reference is None:
        return "not judged: no champion reference (the champion served too little and no baseline was given)", None
    n_mine, n_theirs = challenger.score.count, reference.score.count
    if min(n_mine, n_theirs) < slo.min_score_samples:
        return (
            f"not judged: {n_mine:g} challenger and {n_theirs:g} champion scores "
            f"(needs {slo.min_score_samples} each; slo.min_score_samples)"
        ), None
    if challenger.score.bounds != reference.score.bounds:
        return "not judged: the variants' score histograms have different buckets", None
    value = psi(reference.score.counts(), challenger.score.counts())
    figures["score_psi"] = value
    if value <= slo.max_score_psi + EPS:
        return f"passed (PSI {value:.3f} <= {slo.max_score_psi:g})", None
    message = (
        f"score PSI {value:.3f} > {slo.max_score_psi:g} "
        f"(challenger scores drifted from the champion's; slo.max_score_psi)"
    )
    return "breached", Breach("score_psi", value, slo.max_score_psi, message)


def judge_stage(
    stage_delta: MetricsSnapshot,
    config: CanaryConfig,
    *,
    champion_baseline: VariantMetrics | None = None,
) -> StageVerdict:
    """Judge one stage from the metrics of that stage (``delta(now, stage_start)``).

    ``champion_baseline``: the champion's metrics from the previous stage, used for the p99 and
    PSI comparisons when the champion served fewer than ``min_requests`` in this stage (the 100%
    stage). Without it there, those two SLOs are recorded as not judged. A PSI with too few scores
    on either side is recorded as not judged, never as a failure.
    """
    slo = config.slo
    challenger = stage_delta.challenger
    reference, used = _reference(stage_delta, config, champion_baseline)
    ready = challenger.requests >= config.min_requests
    figures: dict[str, Any] = {
        "ready": ready,
        "min_requests": config.min_requests,
        "challenger": _side(challenger),
        "champion": _side(stage_delta.champion),
        "champion_reference": used,
        "reference": _side(reference) if reference is not None else None,
        "p99_ratio": None,
        "p99_allowed_ms": None,
        "score_psi": None,
        "resets": list(stage_delta.resets),
        "slo": slo.model_dump(),
    }
    if not ready:
        figures["checks"] = {
            name: "not judged: waiting for min_requests" for name in ("error_rate", "p99_latency", "score_psi")
        }
        return StageVerdict(ready=False, passed=False, figures=figures)
    checks: dict[str, str] = {}
    breaches: list[Breach] = []
    for name, (status, breach) in (
        ("error_rate", _check_error_rate(challenger, slo)),
        ("p99_latency", _check_p99(challenger, reference, slo, figures)),
        ("score_psi", _check_psi(challenger, reference, slo, figures)),
    ):
        checks[name] = status
        if breach is not None:
            breaches.append(breach)
    figures["checks"] = checks
    figures["breaches"] = [b.to_dict() for b in breaches]
    if used == "baseline":
        log.info("Stage judged against the champion baseline from the previous stage (the champion served too little)")
    return StageVerdict(ready=True, passed=not breaches, breaches=tuple(breaches), figures=figures)
