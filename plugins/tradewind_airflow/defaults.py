"""Defaults every Tradewind DAG shares (owner, retries, tags)."""

from __future__ import annotations

import datetime as dt
from typing import Any

OWNER = "tradewind"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
}

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
