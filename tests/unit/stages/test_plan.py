"""The plan stage: the window's end from events and the form, the days, governance, the model folder."""

from __future__ import annotations

import datetime as dt

import pytest

from tradewind.stages.outcome import StageInputError
from tradewind.stages.plan import plan_training, run_folder, window_end

pytestmark = pytest.mark.unit

NEWEST = dt.date(2026, 1, 9)


@pytest.mark.parametrize(
    ("events", "form_date", "expected"),
    [
        ([], "2026-01-03", ("2026-01-03", "manual")),
        ([{"partition_date": "2026-01-05"}, {"partition_date": "2026-01-07"}], None, ("2026-01-07", "data")),
        ([{"partition_date": "2026-01-05"}], "2026-01-02", ("2026-01-02", "data")),
        ([{"status": "drift", "data_until": "2026-01-08"}], None, ("2026-01-08", "drift")),
        ([{"status": "drift"}], None, ("2026-01-09", "drift")),  # no data_until: the newest validated day
        (
            [{"status": "drift", "data_until": "2026-01-06"}, {"partition_date": "2026-01-08"}],
            None,
            ("2026-01-06", "drift"),  # a retrain on drift covers the days the drifted traffic came from
        ),
    ],
    ids=["form", "data", "form-wins", "drift-until", "drift-newest", "drift-and-data"],
)
def test_the_window_ends_where_the_trigger_says(events, form_date, expected):
    assert window_end(events, form_date, NEWEST) == expected


def test_no_day_at_all_is_bad_input():
    with pytest.raises(StageInputError, match="no end date"):
        window_end([{"status": "drift"}], None, None)


def test_the_run_folder_is_safe_for_any_run_id():
    assert run_folder("s3://lake/", "tx", "manual__2026-01-01T00:00:00+00:00") == (
        "s3://lake/models/tx/manual__2026-01-01T00_00_00_00_00"
    )


def test_a_plan_over_the_lake_and_governance(lake, client):
    """The days in the window, the manifests' data hash, and the cooldown after a training run."""
    until = lake.dates[-1].isoformat()
    plan = plan_training("transactions", run_id="r1", client=client, date=until, window_days=7, root=str(lake.root))
    assert plan.status == "planned"
    assert plan.dates == [d.isoformat() for d in lake.dates]
    assert plan.task == "binary"
    assert plan.splits == ["train", "holdout"]
    assert plan.model_uri == f"{str(lake.root).rstrip('/')}/models/transactions/r1/model"
    assert len(plan.data_hash or "") == 64
    short = plan_training("transactions", run_id="r2", client=client, date=until, window_days=1, root=str(lake.root))
    assert short.dates == [until]
    with pytest.raises(StageInputError, match="no validated transactions partitions in the 7 days to 2025-01-01"):
        plan_training("transactions", run_id="r3", client=client, date="2025-01-01", root=str(lake.root))
    with pytest.raises(StageInputError, match="is not a YYYY-MM-DD date"):
        plan_training("transactions", run_id="r3", client=client, date="yesterday", root=str(lake.root))
