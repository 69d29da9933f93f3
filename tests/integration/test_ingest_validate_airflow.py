"""Real Airflow (scheduler + dag-processor + api-server, LocalExecutor) on PostgreSQL.

Triggers ingest through the REST API and checks that the validate DAG ran *because of* the raw
Asset event (an asset-triggered run whose upstream events are ours), for a good day and a bad day.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import REPO, TERMINAL, assert_untouched_dags_stay_paused, running_stack, wait_until
from tradewind_dev.stack import AirflowStack

pytestmark = pytest.mark.integration

GOOD, BAD, REDELIVERED = "2026-02-05", "2026-02-06", "2026-02-07"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("airflow-home")
    lake = tmp_path_factory.mktemp("lake")
    env = {"TRADEWIND_STORAGE_ROOT": f"file://{lake}", "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    dags = ["ingest_transactions", "validate_transactions"]
    with running_stack(home, airflow_db, env, dags, ("scheduler", "dag-processor", "api-server")) as st:
        st.lake = lake  # type: ignore[attr-defined]
        yield st


def _validate_ti_for(
    stack: AirflowStack, day: str, skip: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The terminal validate task of ``day`` in a run not in ``skip`` (runs that existed before)."""
    for run in stack.runs("validate_transactions"):
        if run["dag_run_id"] in skip:
            continue
        for ti in stack.task_instances("validate_transactions", run["dag_run_id"]):
            if ti["task_id"] == "validate_partition" and ti.get("rendered_map_index") == day:
                if ti["state"] in TERMINAL:
                    return run, ti
    return None


def _ingest_and_follow(stack: AirflowStack, day: str, corruptions: list[str]) -> dict[str, Any]:
    seen = frozenset(r["dag_run_id"] for r in stack.runs("validate_transactions"))
    run_id = stack.trigger("ingest_transactions", {"date": day, "corruptions": corruptions})
    state = wait_until(
        lambda: (s := stack.run("ingest_transactions", run_id)["state"]) in TERMINAL and s,
        240,
        f"ingest {day}",
    )
    assert state == "success"
    lineage = stack.xcom("ingest_transactions", run_id, "ingest_partition")
    run, ti = wait_until(lambda: _validate_ti_for(stack, day, seen), 240, f"validate {day}")
    events = stack.api("GET", f"/dags/validate_transactions/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
    return {"lineage": lineage, "run": run, "ti": ti, "events": events["asset_events"]}


def test_good_day_is_validated_because_of_the_raw_asset_event(stack: AirflowStack) -> None:
    got = _ingest_and_follow(stack, GOOD, [])
    assert got["run"]["run_type"] == "asset_triggered"
    ours = [e for e in got["events"] if (e.get("extra") or {}).get("partition_date") == GOOD]
    assert ours, f"validate run was not triggered by the {GOOD} raw event: {json.dumps(got['events'])[:800]}"
    assert ours[0]["extra"]["content_hash"] == got["lineage"]["content_hash"]
    assert ours[0]["extra"]["row_count"] > 0
    assert got["ti"]["state"] == "success"

    lake: Path = stack.lake  # type: ignore[attr-defined]
    assert (lake / "validated" / "transactions" / f"date={GOOD}" / "_manifest.json").exists()
    # The validated Asset carries the lineage forward, plus the validation result id.
    validated = stack.api("GET", "/assets/events", params={"limit": 100, "order_by": "-timestamp"})["asset_events"]
    mine = [e for e in validated if e["extra"].get("partition_date") == GOOD and "validation_result_id" in e["extra"]]
    assert mine, "no validated Asset event for the good day"
    assert mine[0]["extra"]["content_hash"] == got["lineage"]["content_hash"]


def test_bad_day_is_quarantined_and_emits_nothing(stack: AirflowStack) -> None:
    got = _ingest_and_follow(stack, BAD, ["negative_amounts"])
    assert got["run"]["run_type"] == "asset_triggered"
    assert any((e.get("extra") or {}).get("partition_date") == BAD for e in got["events"])
    assert got["ti"]["state"] == "failed"

    lake: Path = stack.lake  # type: ignore[attr-defined]
    quarantined = list((lake / "quarantine" / "transactions" / f"date={BAD}").glob("*/validation_result.json"))
    assert len(quarantined) == 1
    result = json.loads(quarantined[0].read_text())
    assert any(f["column"] == "amount" for f in result["failures"])
    assert (quarantined[0].parent / "data_docs.html").exists()
    assert (lake / "raw" / "transactions" / f"date={BAD}" / "_manifest.json").exists()
    assert not (lake / "validated" / "transactions" / f"date={BAD}").exists()
    events = stack.api("GET", "/assets/events", params={"limit": 100})["asset_events"]
    assert not [e for e in events if e["extra"].get("partition_date") == BAD and "validation_result_id" in e["extra"]]


def test_a_quarantined_redelivery_withdraws_the_validated_day_and_says_so(stack: AirflowStack) -> None:
    lake: Path = stack.lake  # type: ignore[attr-defined]
    validated = lake / "validated" / "transactions" / f"date={REDELIVERED}"
    assert _ingest_and_follow(stack, REDELIVERED, [])["ti"]["state"] == "success"
    assert not (validated / "_superseded.json").exists()

    got = _ingest_and_follow(stack, REDELIVERED, ["negative_amounts"])
    assert got["ti"]["state"] == "failed"
    run_id = got["run"]["dag_run_id"]
    state = wait_until(
        lambda: (s := stack.run("validate_transactions", run_id)["state"]) in TERMINAL and s, 120, "the run"
    )
    assert state == "failed"  # the withdrawals teardown does not mask the quarantine
    marker = json.loads((validated / "_superseded.json").read_text())
    assert marker["partition_uri"].endswith(f"date={REDELIVERED}")
    states = {t["task_id"]: t["state"] for t in stack.task_instances("validate_transactions", run_id)}
    assert states["withdrawals"] == "success"
    events = stack.api("GET", "/assets/events", params={"limit": 100, "order_by": "-timestamp"})["asset_events"]
    withdrawn = [
        day
        for e in events
        if e["extra"].get("dataset") == "transactions"
        for day in e["extra"].get("withdrawn", [])
        if day["partition_date"] == REDELIVERED
    ]
    assert withdrawn, "no withdrawn/transactions event names the re-delivered day"
    assert withdrawn[0]["quarantine_uri"].startswith("file://")


def test_validated_events_start_training_through_the_gate(stack: AirflowStack) -> None:
    """Validated Asset events schedule train_transactions; a run trains and the gate decides.

    The daily schedule's own run (yesterday's partition) may reach training first; retrain
    governance then skips the next run inside the cooldown, with its reason. Both are checked.
    """

    def asset_runs() -> list[dict[str, Any]]:
        return [r for r in stack.runs("train_transactions") if r["run_type"] == "asset_triggered"]

    def consumed(run: dict[str, Any]) -> set[str]:
        path = f"/dags/train_transactions/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
        return {e["extra"].get("partition_date") for e in stack.api("GET", path)["asset_events"]}

    def ours() -> dict[str, Any] | None:
        return next((r for r in asset_runs() if r["state"] in TERMINAL and GOOD in consumed(r)), None)

    stack.unpause("train_transactions")
    _ingest_and_follow(stack, GOOD, [])
    run = wait_until(ours, 300, f"an asset-triggered train run on the {GOOD} validated event")
    states = {t["task_id"]: t["state"] for t in stack.task_instances("train_transactions", run["dag_run_id"])}
    if states["plan"] == "skipped":
        governance = stack.xcom("train_transactions", run["dag_run_id"], "plan", key="governance")
        assert "cooldown" in governance or "unchanged" in governance, governance

    def trained() -> dict[str, Any] | None:
        for r in asset_runs():
            if r["state"] in TERMINAL:
                tis = {t["task_id"]: t["state"] for t in stack.task_instances("train_transactions", r["dag_run_id"])}
                if tis.get("train_local") == "success":
                    return {"run": r, "states": tis}
        return None

    got = wait_until(trained, 300, "an asset-triggered train run that trained")
    outcome = stack.xcom("train_transactions", got["run"]["dag_run_id"], "promote", key="outcome")
    assert outcome is not None
    # Small days: the gate decides either way, and says why when it refuses; no challenger yet.
    assert outcome["action"] in ("champion", "reject")
    assert outcome["passed"] or outcome["reasons"]
    assert got["states"]["promote"] == ("success" if outcome["passed"] else "skipped")
    # The local profile's backend ran; the candidate was also scored on the newest validated day.
    assert got["states"]["choose_backend"] == "success"
    assert outcome["recent"]["candidate"]["rows"] > 0


def test_the_dags_it_never_unpaused_stayed_paused_and_never_ran(stack: AirflowStack) -> None:
    driven = {"ingest_transactions", "validate_transactions", "train_transactions"}
    assert_untouched_dags_stay_paused(stack, driven, REPO / "dags")
