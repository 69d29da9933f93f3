"""Validation and the drift check as pods: the same stage arguments as the local operators, and the pod's
outcome (what the provider's XCom sidecar returns) turned into an Asset event, a failure or the event's facts.

The cluster is the provider's business; here its ``execute`` stands in by returning what the stage would
have written to the XCom file. The pods themselves are rendered and validated against the Kubernetes
schema in tests/dags/test_profiles.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.exceptions import AirflowFailException

from tests.unit.helpers import FakeTI
from tradewind_airflow.operators.stage_pods import DriftCheckPodOperator, PartitionValidatePodOperator

pytestmark = pytest.mark.unit


class Events(dict):
    def __missing__(self, key: Any) -> Any:
        self[key] = type("Event", (), {"extra": None})()
        return self[key]


@pytest.fixture
def pod_returns(monkeypatch: pytest.MonkeyPatch):
    """``pod_returns(outcome)``: the provider's execute returns ``outcome``; the arguments it ran with are kept."""
    seen: dict[str, Any] = {}

    def make(outcome: dict[str, Any]) -> dict[str, Any]:
        def execute(self: KubernetesPodOperator, context: Any) -> Any:
            seen["arguments"] = list(self.arguments)
            return outcome

        monkeypatch.setattr(KubernetesPodOperator, "execute", execute)
        return seen

    return make


def _context() -> dict[str, Any]:
    return {"ti": FakeTI("validate_transactions", "validate_partition"), "outlet_events": Events(), "params": {}}


def test_a_validated_partition_emits_the_validated_asset(pod_returns):
    seen = pod_returns({"success": True, "message": "passed", "lineage": {"partition_date": "2026-01-08", "rows": 5}})
    op = PartitionValidatePodOperator(
        task_id="validate_partition", dataset="transactions", gpu_profile="cpu-small", outlets=["validated"],
        partition={"partition_date": "2026-01-08", "airflow": {"run_id": "ingest_1"}},
    )  # fmt: skip
    context = _context()
    extra = op.execute(context)
    assert seen["arguments"][:5] == ["validate", "--dataset", "transactions", "--date", "2026-01-08"]
    assert json.loads(seen["arguments"][seen["arguments"].index("--raw-lineage") + 1])["airflow"] == {
        "run_id": "ingest_1"
    }
    assert seen["arguments"][-2:] == ["--reject-code", "0"]
    assert op.trainer_env["TRADEWIND_RESULT_FILE"] == "/airflow/xcom/return.json"  # the pod's env (applied at build)
    assert extra["ingested_by"] == {"run_id": "ingest_1"}
    assert context["outlet_events"]["validated"].extra == extra
    assert context["ti"].xcom["outcome"]["success"] is True


def test_a_quarantined_partition_fails_the_task_with_the_stages_message(pod_returns):
    pod_returns({"success": False, "message": "Validation failed: 1 of 20 expectations", "lineage": {}})
    op = PartitionValidatePodOperator(
        task_id="validate_partition", dataset="transactions", gpu_profile="cpu-small", partition="2026-01-08"
    )
    context = _context()
    with pytest.raises(AirflowFailException, match="Validation failed: 1 of 20 expectations"):
        op.execute(context)
    assert context["outlet_events"] == {}


def test_the_drift_pod_returns_the_events_facts(pod_returns):
    seen = pod_returns({"status": "drift", "drifted_features": ["amount"], "report": "s3://lake/r"})
    op = DriftCheckPodOperator(
        task_id="check_drift", dataset="transactions", gpu_profile="cpu-small", window_hours="6",
        end="2026-01-08T12:00:00+00:00",
    )  # fmt: skip
    event = op.execute(_context())
    assert event["drifted_features"] == ["amount"]
    assert seen["arguments"][:7] == [
        "drift", "--dataset", "transactions", "--end", "2026-01-08T12:00:00+00:00", "--hours", "6.0",
    ]  # fmt: skip
