"""Alias moves that survive a crash at any step, a lock whose dead holder is taken over, and runs a
dead try left RUNNING ended by the next one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from tests.unit.registry.crash import Crashed, CrashingClient
from tradewind.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    INTENT_TAG,
    PREVIOUS_CHAMPION,
    alias_history,
    check_consistency,
    move_alias,
    promote_challenger_to_champion,
    repair,
    set_challenger,
)
from tradewind.registry.store import (
    LEASE_ENV,
    LEASE_S,
    LOCK_SUFFIX,
    LOCK_TIMEOUT_S,
    RegistryLockTimeout,
    _Heartbeat,
    lease_seconds,
    registry_lock,
    takeovers,
)
from tradewind.registry.tracking import ENDED_BY_TAG, log_training_run

pytestmark = pytest.mark.unit
Make = Callable[[str, int], list[str]]
WHO = {"reason": "test", "triggered_by": "train/manual__1"}


def dies(client: MlflowClient, after: int | None) -> Any:
    """A client that crashes right after its ``after``-th write (``None``: only counts them)."""
    return CrashingClient(client, after=after)


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _promotion_steps(client: MlflowClient, make_versions: Make, name: str) -> list[str]:
    v1, v2 = make_versions(name, 2)
    move_alias(client, name, CHAMPION, v1, expected_current=None, lock_mode="file", **WHO)
    set_challenger(client, name, v2, lock_mode="file", **WHO)
    counting = dies(client, after=None)
    promote_challenger_to_champion(counting, name, lock_mode="file", **WHO)
    return counting.writes


def test_a_promotion_killed_at_any_step_is_completed_by_the_next_writer(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    steps = _promotion_steps(client, make_versions, f"{model_name}-dry")
    assert steps[0] == "set_registered_model_tag#1"  # the intent is written first
    assert len(steps) >= 10
    for n, step in enumerate(steps, 1):
        name = f"{model_name}-{n}"
        v1, v2 = make_versions(name, 2)
        move_alias(client, name, CHAMPION, v1, expected_current=None, lock_mode="file", **WHO)
        set_challenger(client, name, v2, lock_mode="file", **WHO)
        dying = dies(client, after=n)
        with pytest.raises(Crashed):
            promote_challenger_to_champion(dying, name, lock_mode="file", **WHO)
        if n < len(steps):  # half done: the check says so until someone repairs it
            assert any("interrupted" in p for p in check_consistency(client, name)), step
        completed = repair(client, name, triggered_by="train/manual__1 try 2", lock_mode="file")
        assert check_consistency(client, name) == [], step
        assert _aliases(client, name) == {CHAMPION: v2, PREVIOUS_CHAMPION: v1}, step
        promotion = [e for e in alias_history(client, name) if e["seq"] > 2]
        assert [(e["alias"], e["from"], e["to"]) for e in promotion] == [
            (PREVIOUS_CHAMPION, None, v1),
            (CHAMPION, v1, v2),
            (CHALLENGER, v2, None),
        ], step
        assert len({e["operation"] for e in promotion}) == 1, step
        assert all(e.get("completed_by") for e in completed), step
        tags = client.get_model_version(name, v2).tags
        assert f"tradewind.alias.{CHAMPION}.since" in tags, step


def test_the_observed_crash_right_after_the_alias_write_is_repaired_by_the_retry(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    """The alias was set, the process died before the history entry: the retry's own move completes it."""
    v1, v2, v3 = make_versions(model_name, 3)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, lock_mode="file", **WHO)
    set_challenger(client, model_name, v2, lock_mode="file", **WHO)
    dying = dies(client, after=None)
    set_challenger(dying, model_name, v3, lock_mode="file", **WHO)
    step = dying.writes.index("set_registered_model_alias#1") + 1
    move_alias(client, model_name, CHALLENGER, v2, expected_current=v3, lock_mode="file", **WHO)  # back to v2
    with pytest.raises(Crashed):
        set_challenger(dies(client, after=step), model_name, v3, lock_mode="file", **WHO)
    assert _aliases(client, model_name)[CHALLENGER] == v3
    assert check_consistency(client, model_name)[0] == f"challenger: history ends at '{v2}', alias holds '{v3}'"
    assert set_challenger(client, model_name, v3, lock_mode="file", **WHO) is None  # the retry: nothing left to do
    assert check_consistency(client, model_name) == []
    assert alias_history(client, model_name, CHALLENGER)[-1] | {"at": None} == {
        "seq": 5, "alias": CHALLENGER, "from": v2, "to": v3, "at": None, "reason": "test",
        "triggered_by": WHO["triggered_by"], "operation": alias_history(client, model_name)[-1]["operation"],
        "completed_by": WHO["triggered_by"],
    }  # fmt: skip


def test_a_move_whose_alias_was_changed_by_hand_since_the_crash_is_dropped(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    v1, v2, v3 = make_versions(model_name, 3)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, lock_mode="file", **WHO)
    with pytest.raises(Crashed):  # died right after writing the intent
        move_alias(dies(client, after=1), model_name, CHAMPION, v2, expected_current=v1, lock_mode="file", **WHO)
    client.set_registered_model_alias(model_name, CHAMPION, v3)  # by hand in the UI, meanwhile
    assert repair(client, model_name, triggered_by="ops", lock_mode="file") == []
    assert INTENT_TAG not in client.get_registered_model(model_name).tags
    assert _aliases(client, model_name)[CHAMPION] == v3  # the hand move stands; the check reports it as before
    assert check_consistency(client, model_name) == [f"champion: history ends at '{v1}', alias holds '{v3}'"]


def test_a_registry_lock_left_by_a_dead_writer_is_taken_over_once_its_lease_runs_out(
    client: MlflowClient, make_versions: Make, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LEASE_ENV, "0.5")
    (v1,) = make_versions(model_name, 1)
    with pytest.raises(Crashed):  # dies holding the mutex, right after its alias write
        move_alias(
            dies(client, after=3),
            model_name,
            CHAMPION,
            v1,
            expected_current=None,
            lock_mode="registry",
            **WHO,
        )
    held = client.get_registered_model(f"{model_name}{LOCK_SUFFIX}").tags["owner"]
    completed = repair(client, model_name, triggered_by="try 2", lock_mode="registry")
    assert [(e["alias"], e["to"], e["completed_by"]) for e in completed] == [(CHAMPION, v1, "try 2")]
    assert check_consistency(client, model_name) == []
    (taken,) = takeovers(client, model_name)
    assert taken["holder"] == held
    assert taken["reason"].startswith("lease expired")
    assert not client.search_registered_models(filter_string=f"name = '{model_name}{LOCK_SUFFIX}'")


def test_a_live_holder_keeps_its_lock_and_a_broken_holder_is_broken_only_once(
    client: MlflowClient, model_name: str
) -> None:
    mutex = f"{model_name}{LOCK_SUFFIX}"
    client.create_registered_model(mutex, tags={"owner": "live", "expires_at": "9999999999"})
    with pytest.raises(RegistryLockTimeout), registry_lock(client, model_name, mode="registry", timeout_s=0.2):
        pass
    assert takeovers(client, model_name) == []
    # An expired holder whose lock another waiter already broke: this waiter must leave the mutex alone
    # (by now it may be a new holder's), so it times out instead of deleting it.
    client.set_registered_model_tag(mutex, "expires_at", "1")
    client.create_registered_model(f"{mutex}.taken-" + hashlib.sha256(b"live").hexdigest()[:16])
    with pytest.raises(RegistryLockTimeout), registry_lock(client, model_name, mode="registry", timeout_s=0.2):
        pass
    assert client.get_registered_model(mutex).tags["owner"] == "live"


def test_the_heartbeat_renews_the_lease_and_stops_on_a_lock_taken_over(client: MlflowClient, model_name: str) -> None:
    mutex = f"{model_name}{LOCK_SUFFIX}"
    client.create_registered_model(mutex, tags={"owner": "me", "expires_at": "1"})
    beat = _Heartbeat(client, mutex, "me", 30.0)
    beat._renew()
    assert float(client.get_registered_model(mutex).tags["expires_at"]) > 1e9
    client.set_registered_model_tag(mutex, "owner", "someone else")
    client.set_registered_model_tag(mutex, "expires_at", "5")
    beat._renew()
    assert client.get_registered_model(mutex).tags["expires_at"] == "5"  # not ours: not renewed
    assert beat._stop.is_set()


def test_the_default_lease_frees_a_dead_holders_lock_within_the_dags_retry_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tradewind_airflow.defaults import DEFAULT_ARGS

    monkeypatch.delenv(LEASE_ENV, raising=False)
    assert lease_seconds() == LEASE_S
    # The first retry starts retry_delay after the failure and waits LOCK_TIMEOUT_S for the lock.
    assert DEFAULT_ARGS["retries"] >= 1
    assert LEASE_S < DEFAULT_ARGS["retry_delay"].total_seconds() + LOCK_TIMEOUT_S


@pytest.mark.parametrize("raw", ["soon", "0", "-5", "nan", "inf"])
def test_a_bad_lease_setting_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(LEASE_ENV, raw)
    with pytest.raises(ValueError, match=f"{LEASE_ENV}='{raw}': the registry lock's lease must be a positive"):
        lease_seconds()


def test_runs_a_dead_try_left_running_are_ended_by_the_next_try(client: MlflowClient) -> None:
    from tradewind.registry.store import ensure_experiment

    experiment = "abandoned-runs"
    experiment_id = ensure_experiment(client, experiment)
    task = {"dag_id": "train_transactions", "run_id": "scheduled__2026-01-05T00:00:00+00:00", "task_id": "promote"}
    tags = {f"airflow.{k}": v for k, v in task.items()}
    dead = client.create_run(experiment_id, tags={**tags, "airflow.try_number": "1"}).info.run_id
    other = client.create_run(experiment_id, tags={**tags, "airflow.task_id": "train"}).info.run_id
    kwargs = {"framework": "sklearn", "params": {}, "metrics": {}, "data_hashes": {}, "code_revision": "x"}
    run = log_training_run(
        client, experiment, model_logger=lambda name: None, airflow_context={**task, "try_number": 2}, **kwargs
    )
    ended = client.get_run(dead)
    assert ended.info.status == RunStatus.to_string(RunStatus.KILLED)
    assert ended.data.tags[ENDED_BY_TAG] == (
        "ended by try 2 of train_transactions/scheduled__2026-01-05T00:00:00+00:00/promote: try 1 left it RUNNING"
    )
    assert client.get_run(other).info.status == "RUNNING"  # another task's run is not this task's to end
    assert client.get_run(run.run_id).info.status == "FINISHED"
