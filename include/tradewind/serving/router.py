"""Champion/challenger routing: which variant answers a request, sticky per entity.

A request's routing key is the ``X-Tradewind-Entity`` header, else the first instance's entity
column (the spec's ``role: key`` column, e.g. ``customer_id``), else the request id. The challenger
answers when ``bucket(key) < challenger_percent``, so one entity always sees one variant for a given
split, and raising the split only moves entities from champion to challenger (never back).

In shadow mode the champion answers every request and the challenger scores a copy afterwards
(its metrics and inference-log rows say ``shadow``; its failures never reach the client).

The split lives in this process. The local server runs one worker process (``python -m
tradewind.serving`` starts uvicorn with one worker), so ``PUT /admin/traffic`` changes the one
split that serves; on Kubernetes, KServe splits traffic between revisions and each replica
serves one model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tradewind.serving.contract import CHALLENGER, CHAMPION, bucket


@dataclass(frozen=True)
class TrafficSplit:
    """The share of entities the challenger answers (0..100) and whether it only shadows."""

    challenger_percent: int = 0
    shadow: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.challenger_percent <= 100:
            raise ValueError(f"challenger_percent must be within 0..100, got {self.challenger_percent}")


@dataclass(frozen=True)
class Route:
    """Who answers a request, and whether the challenger scores a shadow copy of it."""

    variant: str
    shadow: bool = False


class TrafficRouter:
    """The process's traffic split; reads are lock-free (one immutable reference), writes serialised."""

    def __init__(self, split: TrafficSplit | None = None) -> None:
        self._split = split or TrafficSplit()
        self._lock = threading.Lock()

    @property
    def split(self) -> TrafficSplit:
        return self._split

    def update(self, challenger_percent: int, shadow: bool) -> TrafficSplit:
        with self._lock:
            self._split = TrafficSplit(challenger_percent=challenger_percent, shadow=shadow)
            return self._split

    def reset(self) -> TrafficSplit:
        """Everything back to the champion (the challenger was unloaded)."""
        return self.update(0, False)

    def route(self, key: str, *, has_challenger: bool) -> Route:
        """The route of a request with routing key ``key``; the champion whenever no challenger is loaded."""
        split = self._split
        if not has_challenger:
            return Route(CHAMPION)
        if split.shadow:
            return Route(CHAMPION, shadow=True)
        if split.challenger_percent and bucket(key) < split.challenger_percent:
            return Route(CHALLENGER)
        return Route(CHAMPION)


def routing_key(entity_header: str | None, first_instance: Any, key_column: str | None, request_id: str) -> str:
    """The header, else the first instance's entity value (a string or an integer), else the request id."""
    if entity_header:
        return entity_header
    if key_column and isinstance(first_instance, dict):
        value = first_instance.get(key_column)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return str(value)
    return request_id
