"""The ``withdrawals`` task of the validate DAG: a quarantined re-delivery's withdrawn day is announced."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from tests.unit.helpers import FakeTI
from tradewind_airflow.assets import withdrawn_asset
from tradewind_airflow.operators.partition import report_withdrawals, withdrawn_days

MARKER = {"partition_uri": "file:///lake/validated/t/date=2026-01-05", "content_hash": "abc", "superseded_at": "x"}


def outcome(day: str, superseded: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "success": superseded is None,
        "partition_date": day,
        "result_id": f"t-{day}-r",
        "quarantine_uri": None if superseded is None else f"file:///lake/quarantine/t/date={day}/r",
        "superseded": superseded,
    }


class PullingTI(FakeTI):
    def __init__(self, pulled: Any) -> None:
        super().__init__("validate_t", "withdrawals")
        self.pulled = pulled

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        assert (task_ids, key) == ("validate_partition", "outcome")
        return self.pulled


def context(pulled: Any) -> dict[str, Any]:
    return {
        "ti": PullingTI(pulled),
        "outlet_events": defaultdict(lambda: SimpleNamespace(extra=None)),
        "dag_run": SimpleNamespace(run_id="manual__1", run_type="manual"),
    }


def test_only_quarantined_redeliveries_are_withdrawals() -> None:
    outcomes = [outcome("2026-01-06", None), outcome("2026-01-05", MARKER), None]
    (day,) = withdrawn_days(outcomes)
    assert day["partition_date"] == "2026-01-05"
    assert day["partition_uri"] == MARKER["partition_uri"]
    assert day["quarantine_uri"].endswith("date=2026-01-05/r")
    # One mapped validation: Airflow hands back the value itself, not a list.
    assert withdrawn_days(outcome("2026-01-05", MARKER))[0]["validation_result_id"] == "t-2026-01-05-r"


def test_the_withdrawn_event_names_every_day_and_nothing_is_emitted_without_one() -> None:
    ctx = context([outcome("2026-01-07", {**MARKER, "partition_uri": "u7"}), outcome("2026-01-05", MARKER)])
    asset = withdrawn_asset("t")
    days = report_withdrawals(ctx, "t", asset, "validate_partition")
    assert [d["partition_date"] for d in days] == ["2026-01-05", "2026-01-07"]
    extra = ctx["outlet_events"][asset].extra
    assert extra["dataset"] == "t"
    assert extra["withdrawn"] == days

    quiet = context([outcome("2026-01-06", None)])
    with pytest.raises(AirflowSkipException):
        report_withdrawals(quiet, "t", asset, "validate_partition")
    assert quiet["outlet_events"][asset].extra is None
