"""Stage ``canary-verdict``: one canary stage judged from the metrics it served.

The canary operator bakes a stage (deferred, in the triggerer) and then calls :func:`stage_verdict` with
the metrics snapshot at the stage's start and at its end; the verdict says whether the challenger kept
its SLOs (error rate, p99 latency against the champion, score distribution) and carries the figures it
judged. :func:`canary_config` is ``canary.yaml`` with a run's overrides (the canary form), checked the
same way. The CLI judges two scrapes of a server's ``/metrics`` saved as files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradewind.settings import get_settings


def canary_config(overrides: Mapping[str, Any] | None = None) -> Any:
    """``canary.yaml`` (read once) with ``overrides`` (a run's form) on top; errors name the key."""
    from tradewind.canary.config import parse_canary_config

    base = get_settings().canary()
    given = {k: v for k, v in dict(overrides or {}).items() if v not in (None, "")}
    if not given:
        return base
    return parse_canary_config({**base.model_dump(), **given}, origin="the canary form")


def stage_verdict(
    start: Mapping[str, Any],
    end: Mapping[str, Any],
    *,
    config: Any = None,
    champion_baseline: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict of the stage between two cumulative snapshots (``MetricsSnapshot.to_dict()`` form).

    ``champion_baseline``: what the champion served in an earlier stage (a ``VariantMetrics`` dict), for
    the comparisons of a stage where the champion serves too little (100%). The outcome carries the
    ``baseline`` to keep for the next stage (the champion's metrics of this one, when it served enough).
    """
    from tradewind.canary.snapshots import MetricsSnapshot, VariantMetrics, delta
    from tradewind.canary.verdict import judge_stage

    config = config or canary_config()
    stage = delta(MetricsSnapshot.from_dict(dict(end)), MetricsSnapshot.from_dict(dict(start)))
    baseline = VariantMetrics.from_dict(dict(champion_baseline)) if champion_baseline else None
    verdict = judge_stage(stage, config, champion_baseline=baseline)
    keep = stage.champion.to_dict() if stage.champion.requests >= config.min_requests else None
    return {"passed": verdict.passed, "summary": verdict.summary(), "figures": verdict.figures, "baseline": keep}


def verdict_from_scrapes(start_text: str, end_text: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`stage_verdict` of two ``/metrics`` scrapes of the model server (Prometheus text)."""
    from tradewind.canary.snapshots import parse_metrics

    return stage_verdict(
        parse_metrics(start_text).to_dict(), parse_metrics(end_text).to_dict(), config=canary_config(overrides)
    )
