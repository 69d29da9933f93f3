"""Where the canary reads the per-variant metrics of a stage: the server's ``/metrics``, or Prometheus.

A stage is judged on what each variant did since the stage began (``verdict.judge_stage`` over a
:class:`~tradewind.canary.snapshots.MetricsSnapshot`). Two sources give that, behind one small shape
that the operator (synchronously) and the trigger (in the triggerer's event loop) both use::

    source = metrics_source_from_dict(data)              # what a trigger carries (plain JSON)
    start = baseline(source, client, now=stage_start)    # at the stage's start
    now = fetch(source, client, since=stage_start, now=t)   # or: await afetch(...) in a trigger
    stage = snapshots.delta(now, start)

* :class:`ScrapeSource` (the local model server): one ``GET /metrics``; the series are cumulative
  since the server started, so the stage is the difference to the snapshot taken at its start.
* :class:`PrometheusSource` (KServe): every revision serves one version, on as many pods as the
  autoscaler wants, and pods come and go (scale to zero, rollouts). Summing raw counters over pods
  would lose whatever a vanished pod had counted, so the source asks Prometheus for
  ``increase(...[<since the stage began>])`` per revision, which handles counter resets and pods
  that appear or go; the snapshot at a stage's start is then empty. Which revision is the champion
  and which the challenger comes from the InferenceService's status (the serving target fills
  ``revisions``). ``increase`` extrapolates to the window's edges, so figures are estimates (not
  whole numbers); the SLO ratios do not mind.

The fetching is the caller's (``httpx.Client`` or ``AsyncClient``): a source only says what to ask
and how to read the answers, so nothing here does I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradewind.canary.snapshots import Histogram, MetricsSnapshot, VariantMetrics, parse_metrics
from tradewind.serving.contract import (
    CHALLENGER,
    CHAMPION,
    ERRORS_TOTAL,
    LATENCY_SECONDS,
    REQUESTS_TOTAL,
    REVISION_LABEL,
    ROWS_TOTAL,
    SCORE,
    SHED_TOTAL,
)

__all__ = [
    "MetricsQuery",
    "MetricsSource",
    "MetricsSourceError",
    "PrometheusSource",
    "ScrapeSource",
    "afetch",
    "baseline",
    "fetch",
    "metrics_source_from_dict",
]


class MetricsSourceError(ValueError):
    """An answer the source cannot read (an error from Prometheus, a body that is not what it asked for)."""


@dataclass(frozen=True)
class MetricsQuery:
    """One GET: ``url`` with query ``params``; the answer is read as ``text`` or ``json``."""

    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    expects: str = "text"


class MetricsSource(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def cumulative(self) -> bool:
        """True: snapshots count since the server started (diff two); False: since ``since``."""
        ...

    def queries(self, *, since: float, now: float) -> list[MetricsQuery]: ...

    def read(self, answers: Sequence[Any]) -> MetricsSnapshot: ...

    def to_dict(self) -> dict[str, Any]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ScrapeSource:
    """The model server's own ``/metrics`` (Prometheus text), per ``variant`` label."""

    url: str
    kind: str = "scrape"
    cumulative: bool = True

    def queries(self, *, since: float, now: float) -> list[MetricsQuery]:
        return [MetricsQuery(self.url)]

    def read(self, answers: Sequence[Any]) -> MetricsSnapshot:
        (text,) = answers
        return parse_metrics(str(text))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url}

    def describe(self) -> str:
        return self.url


_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_COUNTERS = {"requests": REQUESTS_TOTAL, "errors": ERRORS_TOTAL, "rows": ROWS_TOTAL, "shed": SHED_TOTAL}
_HISTOGRAMS = {"latency": LATENCY_SECONDS, "score": SCORE}
# One instant query per key, in this order (what PrometheusSource.expressions builds).
_QUERY_KEYS = (*_COUNTERS, *(f"{h}_{part}" for h in _HISTOGRAMS for part in ("bucket", "sum", "count")))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class PrometheusSource:
    """Per-revision ``increase()`` of the contract's series, from Prometheus' HTTP API.

    :param url: Prometheus' base URL (``http://prometheus-operated.monitoring:9090``).
    :param revisions: variant -> the revision serving it (``{"champion": "...-00001", "challenger": ...}``).
    :param selector: further label matchers every series must carry (e.g. ``{"namespace": "tradewind"}``).
    :param revision_label: the label that names the revision (``contract.REVISION_LABEL``).
    :param scrape_interval_s: how often Prometheus scrapes the pods (the PodMonitor's interval). The
        window reaches this far before the stage began, so it holds the last sample taken before
        it: without that sample, what a revision served until the first scrape inside the stage
        would be lost. The price: up to one interval of traffic from before the stage is counted.
    """

    url: str
    revisions: Mapping[str, str]
    selector: Mapping[str, str] = field(default_factory=dict)
    revision_label: str = REVISION_LABEL
    scrape_interval_s: float = 15.0
    kind: str = "prometheus"
    cumulative: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.scrape_interval_s <= 600:
            raise ValueError(f"scrape_interval_s must be in (0, 600] seconds, got {self.scrape_interval_s}")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus url must be http(s)://host:port, got {self.url!r}")
        unknown = set(self.revisions) - {CHAMPION, CHALLENGER}
        if unknown or not self.revisions:
            raise ValueError(f"revisions must map champion/challenger to revision names, got {dict(self.revisions)}")
        for label in (self.revision_label, *self.selector):
            if not _NAME.match(label):
                raise ValueError(f"{label!r} is not a Prometheus label name")

    def _matchers(self) -> str:
        names = sorted(set(self.revisions.values()))
        parts = [f"{k}={_quote(v)}" for k, v in sorted(self.selector.items())]
        parts.append(f"{self.revision_label}=~{_quote('|'.join(re.escape(n) for n in names))}")
        return ",".join(parts)

    def expressions(self, window_s: int) -> dict[str, str]:
        """Query key (``requests``, ``latency_bucket``, ...) -> PromQL over the last ``window_s`` seconds."""
        sel, by = self._matchers(), self.revision_label
        series = {
            **_COUNTERS,
            **{
                f"{h}_{part}": f"{name}_{part}"
                for h, name in _HISTOGRAMS.items()
                for part in ("bucket", "sum", "count")
            },
        }
        return {
            key: f"sum by ({by}{', le' if key.endswith('_bucket') else ''}) "
            f"(increase({series[key]}{{{sel}}}[{window_s}s]))"
            for key in _QUERY_KEYS
        }

    def queries(self, *, since: float, now: float) -> list[MetricsQuery]:
        window = max(1, math.ceil(now - since + self.scrape_interval_s))
        api = self.url.rstrip("/") + "/api/v1/query"
        return [
            MetricsQuery(api, {"query": expr, "time": f"{now:.3f}"}, expects="json")
            for expr in self.expressions(window).values()
        ]

    def read(self, answers: Sequence[Any]) -> MetricsSnapshot:
        keys = _QUERY_KEYS
        if len(answers) != len(keys):
            raise MetricsSourceError(f"expected {len(keys)} Prometheus answers, got {len(answers)}")
        variant_of = {revision: variant for variant, revision in self.revisions.items()}
        values: dict[str, dict[str, Any]] = {v: {} for v in self.revisions}
        for key, answer in zip(keys, answers, strict=True):
            for labels, value in _vector(answer, key):
                variant = variant_of.get(labels.get(self.revision_label, ""))
                if variant is None:
                    continue
                if key.endswith("_bucket"):
                    le = float(labels.get("le", "nan"))
                    if not math.isnan(le):
                        buckets = values[variant].setdefault(key, {})
                        buckets[le] = buckets.get(le, 0.0) + value
                else:
                    values[variant][key] = values[variant].get(key, 0.0) + value
        return MetricsSnapshot(variants={variant: _variant(found) for variant, found in values.items() if found})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "revisions": dict(self.revisions),
            "selector": dict(self.selector),
            "revision_label": self.revision_label,
            "scrape_interval_s": self.scrape_interval_s,
        }

    def describe(self) -> str:
        revisions = ", ".join(f"{v} = {r}" for v, r in sorted(self.revisions.items()))
        return f"Prometheus at {self.url} ({revisions})"


def _vector(answer: Any, key: str) -> list[tuple[dict[str, str], float]]:
    """The samples of an instant-vector answer of ``/api/v1/query``; a clear error for anything else."""
    if not isinstance(answer, Mapping) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, Mapping) else None
        raise MetricsSourceError(f"Prometheus refused the {key} query: {error or str(answer)[:300]}")
    data = answer.get("data") or {}
    if data.get("resultType") != "vector":
        raise MetricsSourceError(f"{key}: expected an instant vector from Prometheus, got {data.get('resultType')!r}")
    out = []
    for item in data.get("result") or []:
        value = float(item["value"][1])
        if math.isfinite(value):
            out.append(({str(k): str(v) for k, v in (item.get("metric") or {}).items()}, max(value, 0.0)))
    return out


def _histogram(found: Mapping[str, Any], key: str) -> Histogram:
    raw = found.get(f"{key}_bucket") or {}
    # Each bucket's increase is extrapolated on its own: keep the cumulative counts monotone.
    buckets, running = [], 0.0
    for le in sorted(raw):
        running = max(running, raw[le])
        buckets.append((le, running))
    count = float(found.get(f"{key}_count", buckets[-1][1] if buckets else 0.0))
    return Histogram(buckets=tuple(buckets), sum=float(found.get(f"{key}_sum", 0.0)), count=count)


def _variant(found: Mapping[str, Any]) -> VariantMetrics:
    return VariantMetrics(
        requests=float(found.get("requests", 0.0)),
        errors=float(found.get("errors", 0.0)),
        rows=float(found.get("rows", 0.0)),
        shed=float(found.get("shed", 0.0)),
        latency=_histogram(found, "latency"),
        score=_histogram(found, "score"),
    )


def metrics_source_from_dict(data: Mapping[str, Any]) -> ScrapeSource | PrometheusSource:
    """The source a trigger or an XCom carried (``to_dict()`` output)."""
    kind = data.get("kind")
    if kind == "scrape":
        return ScrapeSource(url=str(data["url"]))
    if kind == "prometheus":
        return PrometheusSource(
            url=str(data["url"]),
            revisions=dict(data.get("revisions") or {}),
            selector=dict(data.get("selector") or {}),
            revision_label=str(data.get("revision_label") or REVISION_LABEL),
            scrape_interval_s=float(data.get("scrape_interval_s", 15.0)),
        )
    raise ValueError(f"unknown metrics source kind {kind!r} (scrape or prometheus)")


# -- fetching (the caller's client: httpx.Client in a worker, httpx.AsyncClient in the triggerer) --------


def _answer(response: Any, query: MetricsQuery) -> Any:
    if query.expects == "json":
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and body.get("status") == "error":
            return body  # Prometheus says why (bad query, timeout): read() turns it into a clear error
        response.raise_for_status()
        if body is None:
            raise MetricsSourceError(f"{query.url}: the answer is not JSON")
        return body
    response.raise_for_status()
    return response.text


def fetch(source: MetricsSource, client: Any, *, since: float, now: float) -> MetricsSnapshot:
    """A snapshot through a synchronous ``httpx.Client``."""
    queries = source.queries(since=since, now=now)
    return source.read([_answer(client.get(q.url, params=dict(q.params)), q) for q in queries])


async def afetch(source: MetricsSource, client: Any, *, since: float, now: float) -> MetricsSnapshot:
    """A snapshot through an ``httpx.AsyncClient`` (the triggerer's event loop)."""
    import asyncio

    queries = source.queries(since=since, now=now)
    responses = await asyncio.gather(*(client.get(q.url, params=dict(q.params)) for q in queries))
    return source.read([_answer(response, q) for response, q in zip(responses, queries, strict=True)])


def baseline(source: MetricsSource, client: Any, *, now: float) -> MetricsSnapshot:
    """What a stage starting ``now`` is measured from: a snapshot (cumulative sources), else nothing."""
    return fetch(source, client, since=now, now=now) if source.cumulative else MetricsSnapshot()
