"""What Tradewind's operators read from, and write to, a task's context.

The run's partition date, the Airflow ids recorded with every lineage record and alias move, the
extras of the Asset events that triggered the run, the run's trigger form, and the extra of the
Asset events a task emits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Context


def partition_date(value: str | None, context: Context) -> str:
    """The partition a run works on: an explicit date, else the run's logical date.

    A manual run with neither takes the day before it was triggered (the last complete day).
    """
    if value:
        return str(value)[:10]
    logical = context.get("logical_date")
    if logical is not None:
        return logical.date().isoformat()
    run_after = context["dag_run"].run_after
    return (run_after - dt.timedelta(days=1)).date().isoformat()


def airflow_ids(context: Context) -> dict[str, Any]:
    ti = context["ti"]
    return {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "try_number": ti.try_number}


def triggered_by(context: Context) -> str:
    """``<dag_id>/<run_id>``: who moved an alias, as the registry records it."""
    ids = airflow_ids(context)
    return f"{ids['dag_id']}/{ids['run_id']}"


def triggering_extras(context: Context) -> list[dict[str, Any]]:
    """The extras of the Asset events that triggered this run (empty for a manual or scheduled run)."""
    events = context.get("triggering_asset_events") or {}
    return [dict(e.extra or {}) for evs in events.values() for e in evs]


def form(context: Context) -> dict[str, Any]:
    """The run's trigger form (its Params), as plain values."""
    return dict(context.get("params") or {})


def emit(context: Context, outlets: list[Any], extra: dict[str, Any]) -> None:
    """Put ``extra`` on the Asset event of every outlet of the task."""
    for outlet in outlets:
        context["outlet_events"][outlet].extra = extra
