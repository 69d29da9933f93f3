"""The canary's verdict on one stage: the SLOs judged on the challenger, and the breaches.

At each stage the Airflow layer takes a snapshot of ``/metrics`` when the stage starts, waits for
``bake_seconds`` *and* ``min_requests`` challenger requests, and then judges the stage on the
difference between the snapshot of now and the one of the start::

    start = parse_metrics(text_at_stage_start)
    verdict = judge_stage(delta(parse_metrics(text_now), start), config, champion_baseline=...)
    if verdict.ready and verdict.passed: ...next stage...
    elif verdict.failed: ...roll back, log verdict.breaches...

SLOs judged on the challenger (every breach names the SLO, the figure and the limit):

- ``error_rate``: challenger errors / challenger requests ``<= slo.max_error_rate``;
- ``shed_rate``: requests routed to the challenger that the server refused (admission control:
  503 + Retry-After, never scored) / all requests routed to it ``<= slo.max_shed_rate``. A signal of
  its own: a refused request is neither a request the model answered nor an error of the model, so
  shedding never moves the error rate. A stage judged while the server sheds more than that is
  judged under overload (its latencies are not the challenger's alone): it fails, and the breach
  says the server was overloaded rather than that the model failed;
- ``p99_latency``: challenger p99 ``<= slo.max_p99_ratio`` x champion p99 ``+ slo.p99_slack_ms``
  (the slack keeps two tiny latencies from failing on noise);
- ``score_psi``: PSI between the champion's and the challenger's score histograms
  ``<= slo.max_score_psi``, judged only with ``slo.min_score_samples`` scores on each side.

The champion reference for the last two is the champion's own traffic in the same stage. At the
100% stage the champion serves nothing, so the caller passes ``champion_baseline`` (the champion's
delta from the previous stage) and the figures say which reference was used. Pure functions:
nothing here talks to the server or to Airflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from tradewind.canary.config import CanaryConfig, SloConfig
from tradewind.canary.snapshots import MetricsSnapshot, VariantMetrics
from tradewind.canary.statistics import EPS, psi

__all__ = ["Breach", "StageVerdict", "judge_stage"]

log = logging.getLogger(__name__)

Reference = Literal["stage", "baseline"]


@dataclass(frozen=True)
class Breach:
    slo: str  # error_rate | shed_rate | p99_latency | score_psi
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
        "shed": metrics.shed,
        "shed_rate": metrics.shed_rate,
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


def _check_shed_rate(challenger: VariantMetrics, slo: SloConfig) -> tuple[str, Breach | None]:
    rate = challenger.shed_rate
    if rate is None:
        return "not judged: no requests routed to the challenger", None
    if rate <= slo.max_shed_rate + EPS:
        return f"passed ({rate:.2%} <= {slo.max_shed_rate:.2%})", None
    message = (
        f"shed rate {rate:.1%} > {slo.max_shed_rate:.1%}: the server was overloaded and refused "
        f"{challenger.shed:g} of {challenger.requests + challenger.shed:g} requests routed to the challenger "
        "(503 + Retry-After, not model errors; slo.max_shed_rate)"
    )
    return "breached", Breach("shed_rate", rate, slo.max_shed_rate, message)


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
            name: "not judged: waiting for min_requests"
            for name in ("error_rate", "shed_rate", "p99_latency", "score_psi")
        }
        return StageVerdict(ready=False, passed=False, figures=figures)
    checks: dict[str, str] = {}
    breaches: list[Breach] = []
    for name, (status, breach) in (
        ("error_rate", _check_error_rate(challenger, slo)),
        ("shed_rate", _check_shed_rate(challenger, slo)),
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
