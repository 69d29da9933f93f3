"""Aliases: compare-and-set moves, the append-only history, promotion, rollback, and racing writers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from mlflow import MlflowClient

from tradewind.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    ROLLED_BACK_TAG,
    UNCHECKED,
    AliasConflict,
    NothingToPromote,
    alias_at,
    alias_history,
    check_consistency,
    completed_promotion,
    current,
    move_alias,
    promote_challenger_to_champion,
    rollback,
    set_challenger,
)
from tradewind.registry.store import LOCK_SUFFIX, make_client

pytestmark = pytest.mark.unit
Make = Callable[[str, int], list[str]]
WHO = {"reason": "test", "triggered_by": "pytest"}


def test_move_records_who_when_from_to_why(client: MlflowClient, make_versions: Make, model_name: str) -> None:
    (v1,) = make_versions(model_name, 1)
    entry = move_alias(
        client, model_name, CHAMPION, v1, reason="first model", triggered_by="dag:train/run1", expected_current=None
    )
    assert current(client, model_name, CHAMPION) == v1
    assert entry is not None
    assert alias_history(client, model_name) == [entry]
    assert entry["from"] is None
    assert entry["to"] == v1
    assert entry["seq"] == 1
    assert entry["reason"] == "first model"
    assert entry["triggered_by"] == "dag:train/run1"
    assert dt.datetime.fromisoformat(entry["at"]).utcoffset() == dt.timedelta(0)
    assert client.get_model_version(model_name, v1).tags[f"tradewind.alias.{CHAMPION}.since"] == entry["at"]


def test_stale_expectation_raises_and_moves_nothing(client: MlflowClient, make_versions: Make, model_name: str) -> None:
    v1, v2, v3 = make_versions(model_name, 3)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    move_alias(client, model_name, CHAMPION, v2, expected_current=v1, **WHO)
    with pytest.raises(AliasConflict, match="expected version '1'"):
        move_alias(client, model_name, CHAMPION, v3, expected_current=v1, **WHO)
    assert current(client, model_name, CHAMPION) == v2
    assert [(e["from"], e["to"]) for e in alias_history(client, model_name)] == [(None, v1), (v1, v2)]


def test_same_version_is_not_a_move(client: MlflowClient, make_versions: Make, model_name: str) -> None:
    (v1,) = make_versions(model_name, 1)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    assert move_alias(client, model_name, CHAMPION, v1, expected_current=UNCHECKED, **WHO) is None
    assert len(alias_history(client, model_name)) == 1


def test_promote_keeps_previous_champion_and_clears_challenger(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    v1, v2 = make_versions(model_name, 2)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    set_challenger(client, model_name, v2, expected_current=None, **WHO)
    moves = promote_challenger_to_champion(
        client, model_name, reason="canary ok", triggered_by="dag:canary", expected_challenger=v2, expected_champion=v1
    )
    assert [(m["alias"], m["from"], m["to"]) for m in moves] == [
        (PREVIOUS_CHAMPION, None, v1),
        (CHAMPION, v1, v2),
        (CHALLENGER, v2, None),
    ]
    assert len({m["operation"] for m in moves}) == 1
    assert client.get_registered_model(model_name).aliases == {CHAMPION: int(v2), PREVIOUS_CHAMPION: int(v1)}
    assert check_consistency(client, model_name) == []


def test_promote_without_challenger(client: MlflowClient, make_versions: Make, model_name: str) -> None:
    (v1,) = make_versions(model_name, 1)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    with pytest.raises(NothingToPromote):
        promote_challenger_to_champion(client, model_name, **WHO)


def test_promote_with_a_stale_champion_moves_nothing(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    v1, v2 = make_versions(model_name, 2)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    set_challenger(client, model_name, v2, **WHO)
    with pytest.raises(AliasConflict):
        promote_challenger_to_champion(client, model_name, expected_champion=v2, **WHO)
    assert client.get_registered_model(model_name).aliases == {CHAMPION: int(v1), CHALLENGER: int(v2)}


def test_a_promotion_is_found_by_who_made_it_while_it_stands(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    v1, v2, v3 = make_versions(model_name, 3)
    run = "canary_fraud/manual__1"
    move_alias(client, model_name, CHAMPION, v1, reason="gate", triggered_by=run, expected_current=None)
    set_challenger(client, model_name, v2, reason="gate", triggered_by=run)
    assert completed_promotion(client, model_name, triggered_by=run) == []  # a first champion is no promotion

    promote_challenger_to_champion(client, model_name, reason="canary passed", triggered_by=run)
    found = completed_promotion(client, model_name, triggered_by=run)
    assert [(e["alias"], e["from"], e["to"]) for e in found] == [
        (PREVIOUS_CHAMPION, None, v1),
        (CHAMPION, v1, v2),
        (CHALLENGER, v2, None),
    ]
    assert completed_promotion(client, model_name, triggered_by="canary_fraud/manual__2") == []

    set_challenger(client, model_name, v3, reason="gate", triggered_by="train/manual__3")  # later work: still found
    assert completed_promotion(client, model_name, triggered_by=run) == found
    rollback(client, model_name, reason="bad", triggered_by="rollback/manual__4")  # no longer stands
    assert completed_promotion(client, model_name, triggered_by=run) == []


def test_rollback_returns_to_previous_champion(client: MlflowClient, make_versions: Make, model_name: str) -> None:
    v1, v2 = make_versions(model_name, 2)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    set_challenger(client, model_name, v2, **WHO)
    promote_challenger_to_champion(client, model_name, **WHO)
    moves = rollback(client, model_name, reason="error rate 4%", triggered_by="dag:canary", expected_champion=v2)
    assert [(m["alias"], m["from"], m["to"]) for m in moves] == [(CHAMPION, v2, v1), (PREVIOUS_CHAMPION, v1, None)]
    assert client.get_registered_model(model_name).aliases == {CHAMPION: int(v1)}
    assert ROLLED_BACK_TAG in client.get_model_version(model_name, v2).tags
    assert check_consistency(client, model_name) == []
    with pytest.raises(NothingToPromote):
        rollback(client, model_name, **WHO)


def test_alias_at_answers_what_served_when(client: MlflowClient, make_versions: Make, model_name: str) -> None:
    v1, v2 = make_versions(model_name, 2)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    first = move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    second = move_alias(client, model_name, CHAMPION, v2, expected_current=v1, **WHO)
    assert first
    assert second
    assert alias_at(client, model_name, CHAMPION, before) is None
    assert alias_at(client, model_name, CHAMPION, dt.datetime.fromisoformat(first["at"])) == v1
    assert alias_at(client, model_name, CHAMPION, dt.datetime.now(dt.UTC)) == v2


def test_consistency_check_sees_a_move_made_behind_its_back(
    client: MlflowClient, make_versions: Make, model_name: str
) -> None:
    v1, v2 = make_versions(model_name, 2)
    move_alias(client, model_name, CHAMPION, v1, expected_current=None, **WHO)
    client.set_registered_model_alias(model_name, CHAMPION, v2)  # e.g. by hand in the UI
    assert check_consistency(client, model_name) == [f"champion: history ends at '{v1}', alias holds '{v2}'"]


@pytest.mark.parametrize("lock_mode", ["file", "registry"])
def test_racing_promotions_leave_consistent_aliases(
    store: str, make_versions: Make, model_name: str, lock_mode: str
) -> None:
    """Six writers each try: read aliases, set their challenger (CAS), promote it (CAS)."""
    champion, *candidates = make_versions(model_name, 7)
    setup = make_client(store)
    move_alias(setup, model_name, CHAMPION, champion, expected_current=None, lock_mode=lock_mode, **WHO)
    barrier = threading.Barrier(len(candidates))
    won: list[str] = []
    errors: list[BaseException] = []

    def writer(version: str) -> None:
        client = make_client(store)
        seen_champion = current(client, model_name, CHAMPION)
        barrier.wait()
        try:
            set_challenger(client, model_name, version, expected_current=None, lock_mode=lock_mode, **WHO)
            promote_challenger_to_champion(
                client,
                model_name,
                expected_challenger=version,
                expected_champion=seen_champion,
                lock_mode=lock_mode,
                **WHO,
            )
            won.append(version)
        except AliasConflict:
            pass
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(v,)) for v in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(won) == 1  # every writer expected the same champion; only the first promotion can hold
    aliases = {k: str(v) for k, v in setup.get_registered_model(model_name).aliases.items()}
    assert aliases[CHAMPION] == won[0]
    assert aliases[PREVIOUS_CHAMPION] == champion
    # A writer that came after the promotion may legitimately hold the (cleared) challenger slot.
    assert aliases.get(CHALLENGER) in (None, *set(candidates) - {won[0]})
    assert check_consistency(setup, model_name) == []
    history = alias_history(setup, model_name)
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    promotion = [e for e in history if e["alias"] in (PREVIOUS_CHAMPION, CHAMPION) and e["from"] is not None]
    assert len({e["operation"] for e in promotion}) == 1  # one promotion, no lost or half-applied one
    assert [(e["alias"], e["from"], e["to"]) for e in history if e["operation"] == promotion[0]["operation"]] == [
        (PREVIOUS_CHAMPION, None, champion),
        (CHAMPION, champion, won[0]),
        (CHALLENGER, won[0], None),
    ]
    # This model's lock only: the session's store also holds other tests' models (and a lock one leaves on purpose).
    assert not [m for m in setup.search_registered_models() if m.name == f"{model_name}{LOCK_SUFFIX}"]
