"""The canary operator's decisions, stage by stage, with the real trigger and a real registry.

The serving side is a stand-in that records what the operator asked of it, and serves metrics
rendered by the model server's own ``ServingMetrics`` over HTTP, so the trigger polls a real
endpoint. (The integration tier runs the same DAG against a real server process.)
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from tests.unit.helpers import FakeTI, serve_metrics
from tests.unit.registry.crash import Crashed, CrashingClient
from tradewind.canary.metrics_source import ScrapeSource
from tradewind.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    check_consistency,
    current,
    move_alias,
    promote_challenger_to_champion,
    set_challenger,
)
from tradewind.registry.store import make_client
from tradewind.serving.metrics import ServingMetrics
from tradewind_airflow.operators.canary import CANARY_TAG, CanaryRolloutOperator

pytestmark = pytest.mark.unit

MODEL = "transactions"


class FakeTarget:
    """Records the operator's calls; its metrics are whatever the test served."""

    name = "fake"

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls: list[tuple[Any, ...]] = []

    def sync(self, *, champion: str | None, challenger: str | None) -> None:
        self.calls.append(("sync", champion, challenger))

    def set_split(self, challenger_percent: int) -> None:
        self.calls.append(("split", challenger_percent))

    def metrics_source(self) -> ScrapeSource:
        return ScrapeSource(self.url)


class Registry:
    def __init__(self, client: Any) -> None:
        self.client = client

    def get_conn(self) -> Any:
        return self.client


@pytest.fixture
def metrics() -> Iterator[tuple[ServingMetrics, str]]:
    served = ServingMetrics()
    httpd = serve_metrics(served)
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/metrics"
    httpd.shutdown()


def _registry(folder: Path) -> Any:
    """A registry in ``folder`` where version 1 is champion and version 2 the challenger."""
    folder.mkdir(parents=True, exist_ok=True)
    client = make_client(f"sqlite:///{folder / 'mlflow.db'}")
    client.create_registered_model(MODEL)
    for _ in range(2):
        client.create_model_version(MODEL, source=f"file://{folder}/model")
    move_alias(client, MODEL, CHAMPION, "1", reason="test", triggered_by="test", expected_current=None)
    set_challenger(client, MODEL, "2", reason="test", triggered_by="test")
    return client


@pytest.fixture
def client(tmp_path: Path) -> Any:
    """A registry where version 1 is champion and version 2 the challenger."""
    return _registry(tmp_path)


def _operator(client: Any, target: FakeTarget, **form: Any) -> CanaryRolloutOperator:
    op = CanaryRolloutOperator(task_id="rollout", model_name=MODEL, **form)
    op.__dict__["registry"] = Registry(client)
    op.__dict__["target"] = target
    return op


def _serve(metrics: ServingMetrics, variant: str, requests: int, *, errors: int = 0, scale: float = 0.02) -> None:
    rng = np.random.default_rng(requests)
    for _ in range(requests - errors):
        metrics.scored(variant, 0.004, rng.beta(1, 1 / scale - 1, size=1))
    for _ in range(errors):
        metrics.failed(variant)


def _baked(deferred: TaskDeferred) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in deferred.trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout=30))


FORM = {"stages": [10, 100], "bake_seconds": 0, "min_requests": 50}  # as the DAG renders them (native)


def test_a_healthy_challenger_goes_through_every_stage_and_becomes_champion(client, metrics) -> None:
    served, url = metrics
    target = FakeTarget(url)
    op, context = _operator(client, target, **FORM), {"ti": FakeTI("canary_transactions", "rollout")}
    with pytest.raises(TaskDeferred) as stage1:
        op.execute(context)
    assert target.calls == [("sync", "1", "2"), ("split", 10)]
    assert stage1.value.method_name == "stage_baked"
    _serve(served, "champion", 450)
    _serve(served, "challenger", 60)
    with pytest.raises(TaskDeferred) as stage2:
        op.stage_baked(context, event=_baked(stage1.value), **stage1.value.kwargs)
    assert target.calls[-1] == ("split", 100)
    _serve(served, "challenger", 80)  # the champion serves nothing at 100%: judged on its baseline
    outcome = op.stage_baked(context, event=_baked(stage2.value), **stage2.value.kwargs)

    assert outcome["result"] == "promoted"
    assert [s["percent"] for s in outcome["stages"]] == [10, 100]
    assert (current(client, MODEL, CHAMPION), current(client, MODEL, PREVIOUS_CHAMPION)) == ("2", "1")
    assert current(client, MODEL, CHALLENGER) is None
    assert target.calls[-2:] == [("sync", "2", None), ("split", 0)]
    assert '"result": "promoted"' in client.get_model_version(MODEL, "2").tags[CANARY_TAG]


def test_an_erroring_challenger_is_rolled_back_naming_the_slo(client, metrics) -> None:
    served, url = metrics
    target = FakeTarget(url)
    op, context = _operator(client, target, **FORM), {"ti": FakeTI("canary_transactions", "rollout")}
    with pytest.raises(TaskDeferred) as stage1:
        op.execute(context)
    _serve(served, "champion", 450)
    _serve(served, "challenger", 60, errors=12)
    with pytest.raises(AirflowFailException) as failed:
        op.stage_baked(context, event=_baked(stage1.value), **stage1.value.kwargs)

    message = str(failed.value)
    assert "rolled back at 10%" in message
    assert "error rate" in message
    assert "Champion v1 serves all traffic" in message
    assert target.calls[-2:] == [("split", 0), ("sync", "1", None)]  # traffic off first
    assert current(client, MODEL, CHAMPION) == "1"  # never moved
    assert current(client, MODEL, CHALLENGER) is None
    assert '"result": "rolled back"' in client.get_model_version(MODEL, "2").tags[CANARY_TAG]
    assert context["ti"].xcom["canary"]["failed_at_percent"] == 10


def test_a_stage_without_enough_traffic_rolls_back_after_its_timeout(client, metrics, monkeypatch) -> None:
    served, url = metrics
    target = FakeTarget(url)
    op, context = _operator(client, target, **FORM), {"ti": FakeTI("canary_transactions", "rollout")}
    with pytest.raises(TaskDeferred) as stage1:
        op.execute(context)
    stage1.value.trigger.deadline = 0  # already past: the trigger reports what it saw
    _serve(served, "challenger", 3)
    event = _baked(stage1.value)
    assert event["status"] == "timeout"
    with pytest.raises(AirflowFailException, match=r"did not bake .* the challenger served 3 of 50 requests"):
        op.stage_baked(context, event=event, **stage1.value.kwargs)
    assert current(client, MODEL, CHALLENGER) is None


def test_no_challenger_means_nothing_to_roll_out(client, metrics) -> None:
    move_alias(client, MODEL, CHALLENGER, None, reason="test", triggered_by="test", expected_current="2")
    op = _operator(client, FakeTarget(metrics[1]), **FORM)
    with pytest.raises(AirflowSkipException, match="no 'challenger' alias"):
        op.execute({"ti": FakeTI("canary_transactions", "rollout")})


def test_a_bad_form_names_the_key(client, metrics) -> None:
    op = _operator(client, FakeTarget(metrics[1]), stages=[50, 10])
    with pytest.raises(Exception, match="stages"):
        op.execute({"ti": FakeTI("canary_transactions", "rollout")})


def _through_every_stage(op: CanaryRolloutOperator, served: ServingMetrics, context: dict[str, Any]) -> dict[str, Any]:
    """A healthy challenger's rollout with ``FORM``'s stages, up to what the promotion returns."""
    with pytest.raises(TaskDeferred) as stage1:
        op.execute(context)
    _serve(served, "champion", 450)
    _serve(served, "challenger", 60)
    with pytest.raises(TaskDeferred) as stage2:
        op.stage_baked(context, event=_baked(stage1.value), **stage1.value.kwargs)
    _serve(served, "challenger", 80)
    return op.stage_baked(context, event=_baked(stage2.value), **stage2.value.kwargs)


def test_a_retry_after_the_promotion_died_at_any_step_serves_the_new_champion(tmp_path, metrics) -> None:
    """The try dies after its n-th registry write of the promotion (the alias moves, then the outcome's
    tag), so before the target was told; the retry completes the moves and makes the target follow."""
    served, url = metrics
    _registry(tmp_path / "before")

    def fresh(name: str) -> Any:  # a copy of the registry before the rollout
        shutil.copytree(tmp_path / "before", tmp_path / name)
        return make_client(f"sqlite:///{tmp_path / name / 'mlflow.db'}")

    counting = CrashingClient(fresh("dry"), after=None)
    _through_every_stage(_operator(counting, FakeTarget(url), **FORM), served, {"ti": FakeTI("canary_t", "rollout")})
    steps = list(counting.writes)
    assert steps[0] == "set_registered_model_tag#1"  # the intent first
    assert "set_registered_model_alias#1" in steps
    for n, step in enumerate(steps, 1):
        client, first = fresh(str(n)), FakeTarget(url)
        with pytest.raises(Crashed):
            _through_every_stage(
                _operator(CrashingClient(client, after=n), first, **FORM), served, {"ti": FakeTI("canary_t", "rollout")}
            )
        if n < len(steps):  # the last write is the outcome's tag, after the target followed
            assert ("sync", "2", None) not in first.calls, step

        target = FakeTarget(url)
        outcome = _operator(client, target, **FORM).execute({"ti": FakeTI("canary_t", "rollout", try_number=2)})

        assert outcome["result"] == "promoted", step
        assert (outcome["champion"], outcome["previous_champion"], outcome["finished_by"]) == ("2", "1", "try 2")
        assert "canary passed every stage (10/100%)" in outcome["reason"]
        assert [s["percent"] for s in outcome["stages"]] == [10, 100]  # the same record as the try that promoted
        assert target.calls == [("sync", "2", None), ("split", 0)], step  # no new rollout, the champion alone
        assert (current(client, MODEL, CHAMPION), current(client, MODEL, PREVIOUS_CHAMPION)) == ("2", "1"), step
        assert current(client, MODEL, CHALLENGER) is None
        assert check_consistency(client, MODEL) == [], step
        assert '"result": "promoted"' in client.get_model_version(MODEL, "2").tags[CANARY_TAG], step


def test_another_runs_promotion_is_not_finished_by_this_run(client, metrics) -> None:
    promote_challenger_to_champion(client, MODEL, reason="canary passed", triggered_by="canary_t/manual__0")
    target = FakeTarget(metrics[1])
    with pytest.raises(AirflowSkipException, match="no 'challenger' alias"):
        _operator(client, target, **FORM).execute({"ti": FakeTI("canary_t", "rollout", try_number=2)})
    assert target.calls == []
