"""Defaults every Tradewind DAG shares (owner, retries, tags)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Param

OWNER = "tradewind"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
}

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def partition_date_param(description: str) -> Param:
    """The ``date`` field of a trigger form: a date picker that may be left empty."""
    return Param(None, type=["null", "string"], format="date", title="Partition date", description=description)
