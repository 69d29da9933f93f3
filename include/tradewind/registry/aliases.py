"""Champion/challenger aliases, every move on the record, and safe under concurrent writers.

MLflow 3 has aliases, not stages: ``champion`` is what serves, ``challenger`` what the canary
tries, ``previous-champion`` what a rollback returns to.

The alias history (design)
    Each move is one *registered-model tag* ``tradewind.alias_history.<seq:08d>`` whose value is a
    JSON object ``{seq, alias, from, to, at (UTC ISO-8601), reason, triggered_by, operation}``.
    Tags are plain registry metadata, so this works on every MLflow backend (SQLite, PostgreSQL,
    a tracking server) without artifacts; a tag value holds up to 100 000 characters, and entries
    are never rewritten or deleted (append-only). The target version also gets convenience tags
    ``tradewind.alias.<alias>.since`` and the version it replaced ``...until``. Moves made by one
    call (a promotion is three moves) share an ``operation`` id. :func:`alias_at` answers "what
    was champion at time T", :func:`check_consistency` proves the history matches the aliases.

Race safety (design)
    Every write happens under :func:`tradewind.registry.store.registry_lock` (an ``fcntl`` file
    lock for local stores, a create-if-absent registry mutex for remote ones), which makes the
    sequence numbers gap- and duplicate-free and each read-check-write atomic among Tradewind
    writers. On top, compare-and-set: a caller states which version it expects the alias to hold
    (``expected_current``); the alias is re-read under the lock before the write and again after
    it. A mismatch before raises :class:`AliasConflict` with nothing changed; a mismatch after
    (someone outside the lock, e.g. a person in the UI, moved it meanwhile) raises too, leaves
    the other writer's value in place and records nothing for the lost write.

Crash safety (design)
    A call's moves are first written down as an *intent*, the registered-model tag
    ``tradewind.alias_intent`` (the planned ``{alias, from, to}`` moves, the version tags to set,
    reason, who and the ``operation`` id); then each alias is written and its history entry
    recorded; the intent is deleted last. Carrying out an intent is idempotent: a move whose
    operation already has an entry is skipped, an alias that already holds its target is only
    recorded, one that still holds its start is moved. So when a writer (or the store) dies at any
    step, the next writer that takes the lock completes the intent before doing its own work, and
    :func:`repair` (run at the start of the promote, canary and rollback stages) does the same on
    its own. Entries written that way carry ``completed_by``. If an alias moved outside Tradewind
    since (it holds neither the start nor the target), the rest of the intent is dropped with a
    warning. :func:`check_consistency` reports an intent still pending.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any, Final, TypeAlias

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tradewind.registry.store import registry_lock

log = logging.getLogger(__name__)

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
PREVIOUS_CHAMPION: Final = "previous-champion"
HISTORY_PREFIX: Final = "tradewind.alias_history."
ROLLED_BACK_TAG: Final = "tradewind.rolled_back_at"
INTENT_TAG: Final = "tradewind.alias_intent"


class _Unchecked(Enum):
    UNCHECKED = "unchecked"


UNCHECKED: Final = _Unchecked.UNCHECKED
"""``expected_current=UNCHECKED``: move whatever the alias holds (no compare-and-set)."""

Version: TypeAlias = str | int
Expected: TypeAlias = str | int | _Unchecked | None


class AliasConflict(RuntimeError):
    """The alias did not hold the expected version (another writer moved it); nothing was recorded."""

    def __init__(self, model_name: str, alias: str, expected: str | None, actual: str | None, when: str) -> None:
        super().__init__(
            f"{model_name}@{alias}: expected version {expected!r} {when}, found {actual!r} (moved by another writer)"
        )
        self.model_name, self.alias, self.expected, self.actual = model_name, alias, expected, actual


class NothingToPromote(ValueError):
    """A promotion or rollback found no version to move to (no challenger, no previous champion)."""


def _norm(version: Version | None) -> str | None:
    return None if version is None else str(version)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def current(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at (as a string), or ``None`` when it is not set."""
    return _norm(client.get_registered_model(model_name).aliases.get(alias))


def alias_history(client: MlflowClient, model_name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every recorded move of ``model_name``'s aliases (or of one alias), oldest first."""
    tags = client.get_registered_model(model_name).tags
    entries = [json.loads(v) for k, v in tags.items() if k.startswith(HISTORY_PREFIX)]
    entries.sort(key=lambda e: int(e["seq"]))
    return [e for e in entries if alias is None or e["alias"] == alias]


def alias_at(client: MlflowClient, model_name: str, alias: str, when: dt.datetime) -> str | None:
    """The version ``alias`` held at ``when`` (an aware datetime), from the history."""
    if when.tzinfo is None:
        raise ValueError("alias_at: 'when' must be timezone-aware")
    held: str | None = None
    for entry in alias_history(client, model_name, alias):
        if dt.datetime.fromisoformat(entry["at"]) > when:
            break
        held = entry["to"]
    return held


def check_consistency(client: MlflowClient, model_name: str) -> list[str]:
    """Problems between the history and the live aliases; empty when they agree.

    Per alias, each entry must start where the previous one ended, and the last one must end at
    the version the alias holds now. Sequence numbers must run 1..n with no gap.
    """
    model = client.get_registered_model(model_name)
    history = alias_history(client, model_name)
    problems = [f"seq {e['seq']} out of order" for i, e in enumerate(history, 1) if int(e["seq"]) != i]
    last: dict[str, str | None] = {}
    for entry in history:
        before = last.get(entry["alias"])
        if entry["from"] != before:
            where = f"seq {entry['seq']}: {entry['alias']}"
            problems.append(f"{where} moved from {entry['from']!r}, history had {before!r}")
        last[entry["alias"]] = entry["to"]
    for alias in sorted(set(last) | set(model.aliases)):
        live = _norm(model.aliases.get(alias))
        if last.get(alias) != live:
            problems.append(f"{alias}: history ends at {last.get(alias)!r}, alias holds {live!r}")
    if INTENT_TAG in model.tags:
        intent = json.loads(model.tags[INTENT_TAG])
        problems.append(f"operation {intent['operation']} was interrupted (the next move or repair() completes it)")
    return problems


def _next_seq(client: MlflowClient, model_name: str) -> int:
    tags = client.get_registered_model(model_name).tags
    return 1 + max((int(k.removeprefix(HISTORY_PREFIX)) for k in tags if k.startswith(HISTORY_PREFIX)), default=0)


def _write(client: MlflowClient, model_name: str, alias: str, version: str | None) -> None:
    if version is None:
        client.delete_registered_model_alias(model_name, alias)
    else:
        client.set_registered_model_alias(model_name, alias, version)


def _record(client: MlflowClient, model_name: str, entry: dict[str, Any]) -> None:
    """The history entry (unless it is there already) and the versions' ``since``/``until`` tags."""
    key = f"{HISTORY_PREFIX}{entry['seq']:08d}"
    if key not in client.get_registered_model(model_name).tags:
        client.set_registered_model_tag(model_name, key, json.dumps(entry, sort_keys=True))
    if entry["to"] is not None:
        client.set_model_version_tag(model_name, entry["to"], f"tradewind.alias.{entry['alias']}.since", entry["at"])
    if entry["from"] is not None:
        client.set_model_version_tag(model_name, entry["from"], f"tradewind.alias.{entry['alias']}.until", entry["at"])


def pending_intent(client: MlflowClient, model_name: str) -> dict[str, Any] | None:
    """The intent of a move that was started and not finished (its writer died), if any."""
    raw = client.get_registered_model(model_name).tags.get(INTENT_TAG)
    return json.loads(raw) if raw else None


def _apply_move(client: MlflowClient, model_name: str, intent: dict[str, Any], move: dict[str, Any]) -> dict[str, Any]:
    """One planned move: written unless the alias holds its target already, then recorded."""
    live = current(client, model_name, move["alias"])
    if live == move["from"]:
        _write(client, model_name, move["alias"], move["to"])
        live = current(client, model_name, move["alias"])
        if live != move["to"]:
            raise AliasConflict(model_name, move["alias"], move["to"], live, "right after the move")
    elif live != move["to"]:
        raise AliasConflict(model_name, move["alias"], move["from"], live, "before the move")
    entry = {
        "seq": _next_seq(client, model_name),
        "alias": move["alias"],
        "from": move["from"],
        "to": move["to"],
        "at": _now(),
        **{k: intent[k] for k in ("reason", "triggered_by", "operation")},
        **({"completed_by": intent["completed_by"]} if intent.get("completed_by") else {}),
    }
    _record(client, model_name, entry)
    return entry


def _apply(client: MlflowClient, model_name: str, intent: dict[str, Any]) -> list[dict[str, Any]]:
    """Carry out an intent, skipping the moves its operation already recorded; then clear it.

    Idempotent: a retry after a crash at any step completes the rest. When an alias holds neither
    a move's start nor its target (moved outside Tradewind meanwhile), the rest of the intent is
    dropped and :class:`AliasConflict` raised; what was done stays recorded.
    """
    done = {e["alias"]: e for e in alias_history(client, model_name) if e.get("operation") == intent["operation"]}
    entries = []
    try:
        for move in intent["moves"]:
            if move["alias"] in done:
                _record(client, model_name, done[move["alias"]])  # the version tags may be missing
            else:
                entries.append(_apply_move(client, model_name, intent, move))
    except AliasConflict:
        client.delete_registered_model_tag(model_name, INTENT_TAG)
        raise
    for version, key, value in intent.get("version_tags", []):
        client.set_model_version_tag(model_name, version, key, value)
    client.delete_registered_model_tag(model_name, INTENT_TAG)
    return entries


def _carry_out(
    client: MlflowClient,
    model_name: str,
    moves: Sequence[tuple[str, str | None, str | None]],
    why: dict[str, str],
    version_tags: Sequence[tuple[str, str, str]] = (),
) -> list[dict[str, Any]]:
    """Record the intent (the planned moves, ``(alias, from, to)``), then apply it. The caller holds the lock."""
    planned = [{"alias": a, "from": f, "to": t} for a, f, t in moves if f != t]
    if not planned and not version_tags:
        return []
    intent = {**why, "moves": planned, "version_tags": [list(t) for t in version_tags], "at": _now()}
    client.set_registered_model_tag(model_name, INTENT_TAG, json.dumps(intent, sort_keys=True))
    return _apply(client, model_name, intent)


def _repair_locked(client: MlflowClient, model_name: str, completed_by: str) -> list[dict[str, Any]]:
    intent = pending_intent(client, model_name)
    if intent is None:
        return []
    log.warning("%s: completing the interrupted alias move %s (%s)", model_name, intent["operation"], intent["moves"])
    try:
        return _apply(client, model_name, {**intent, "completed_by": completed_by})
    except AliasConflict as err:
        log.warning(
            "%s: interrupted move %s dropped, the aliases moved since: %s", model_name, intent["operation"], err
        )
        return []


def repair(
    client: MlflowClient, model_name: str, *, triggered_by: str, lock_mode: str = "auto"
) -> list[dict[str, Any]]:
    """Complete (or, when the aliases moved since, drop) a move that a crash left half-done.

    Returns the history entries it added (each with ``completed_by``). Cheap when there is
    nothing to repair (one read, no lock); a model not registered yet has nothing to repair.
    """
    try:
        if pending_intent(client, model_name) is None:
            return []
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    with registry_lock(client, model_name, mode=lock_mode):
        return _repair_locked(client, model_name, triggered_by)


def _move_locked(
    client: MlflowClient,
    model_name: str,
    alias: str,
    version: Version | None,
    *,
    reason: str,
    triggered_by: str,
    expected: Expected,
    operation: str,
) -> dict[str, Any] | None:
    """Compare, then carry out the move through its intent. The caller holds the registry lock."""
    target = _norm(version)
    before = current(client, model_name, alias)
    if expected is not UNCHECKED and _norm(expected) != before:
        raise AliasConflict(model_name, alias, _norm(expected), before, "before the move")
    why = {"reason": reason, "triggered_by": triggered_by, "operation": operation}
    entries = _carry_out(client, model_name, [(alias, before, target)], why)
    return entries[0] if entries else None


@contextmanager
def _locked(client: MlflowClient, model_name: str, lock_mode: str, triggered_by: str) -> Iterator[str]:
    """The registry lock, with any interrupted move completed first; yields a fresh operation id."""
    with registry_lock(client, model_name, mode=lock_mode):
        _repair_locked(client, model_name, triggered_by)
        yield uuid.uuid4().hex[:12]


def move_alias(
    client: MlflowClient,
    model_name: str,
    alias: str,
    version: Version | None,
    *,
    reason: str,
    triggered_by: str,
    expected_current: Expected,
    lock_mode: str = "auto",
) -> dict[str, Any] | None:
    """Point ``alias`` at ``version`` (``None`` removes it) if it still holds ``expected_current``.

    Returns the history entry, or ``None`` when the alias already held ``version`` (no move, no
    entry). Raises :class:`AliasConflict` when another writer got there first.
    """
    with _locked(client, model_name, lock_mode, triggered_by) as operation:
        return _move_locked(
            client,
            model_name,
            alias,
            version,
            reason=reason,
            triggered_by=triggered_by,
            expected=expected_current,
            operation=operation,
        )


def set_challenger(
    client: MlflowClient,
    model_name: str,
    version: Version,
    *,
    reason: str,
    triggered_by: str,
    expected_current: Expected = UNCHECKED,
    lock_mode: str = "auto",
) -> dict[str, Any] | None:
    """The gate's pass: ``challenger`` -> ``version``.

    Replacing a challenger is a normal move (a newer candidate takes an older one's place before
    its canary); ``expected_current`` is what the caller read before deciding, so a challenger set
    by someone else in between raises :class:`AliasConflict` instead of being replaced unseen.
    The promotion always passes it; ``UNCHECKED`` (the default) is for a deliberate overwrite.
    """
    return move_alias(
        client,
        model_name,
        CHALLENGER,
        version,
        reason=reason,
        triggered_by=triggered_by,
        expected_current=expected_current,
        lock_mode=lock_mode,
    )


def promote_challenger_to_champion(
    client: MlflowClient,
    model_name: str,
    *,
    reason: str,
    triggered_by: str,
    expected_challenger: Expected = UNCHECKED,
    expected_champion: Expected = UNCHECKED,
    lock_mode: str = "auto",
) -> list[dict[str, Any]]:
    """Challenger becomes champion; the old champion is kept as ``previous-champion``; challenger cleared.

    All three moves happen under one lock and share one ``operation`` id. Raises
    :class:`NothingToPromote` when there is no challenger, :class:`AliasConflict` when the
    challenger or champion is not the expected one (nothing moved then).
    """
    with _locked(client, model_name, lock_mode, triggered_by) as op:
        challenger = current(client, model_name, CHALLENGER)
        if expected_challenger is not UNCHECKED and _norm(expected_challenger) != challenger:
            raise AliasConflict(model_name, CHALLENGER, _norm(expected_challenger), challenger, "before promotion")
        if challenger is None:
            raise NothingToPromote(f"{model_name}: no '{CHALLENGER}' alias to promote")
        champion = current(client, model_name, CHAMPION)
        if expected_champion is not UNCHECKED and _norm(expected_champion) != champion:
            raise AliasConflict(model_name, CHAMPION, _norm(expected_champion), champion, "before promotion")
        why = {"reason": reason, "triggered_by": triggered_by, "operation": op}
        previous = current(client, model_name, PREVIOUS_CHAMPION)
        moves: list[tuple[str, str | None, str | None]] = [
            (CHAMPION, champion, challenger),
            (CHALLENGER, challenger, None),
        ]
        if champion is not None:
            moves.insert(0, (PREVIOUS_CHAMPION, previous, champion))
        return _carry_out(client, model_name, moves, why)


def completed_promotion(client: MlflowClient, model_name: str, *, triggered_by: str) -> list[dict[str, Any]]:
    """The history entries of the challenger -> champion promotion ``triggered_by`` carried out, if it stands.

    Non-empty only when the champion's latest move belongs to an operation of ``triggered_by``
    that also took the promoted version off ``challenger`` (a promotion, not a first champion or a
    rollback), and ``champion`` still holds it. A caller whose try died after its promotion's moves
    (or whose half-done moves :func:`repair` completed) finds it here on its retry, and finishes
    what comes after the moves (the serving target, the outcome) instead of finding no challenger.
    """
    history = alias_history(client, model_name)
    champion = [e for e in history if e["alias"] == CHAMPION]
    if not champion or champion[-1]["triggered_by"] != triggered_by:
        return []
    last = champion[-1]
    if current(client, model_name, CHAMPION) != last["to"]:
        return []
    moves = [e for e in history if e.get("operation") == last["operation"]]
    promoted = any(e["alias"] == CHALLENGER and e["from"] == last["to"] for e in moves)
    return moves if promoted else []


def rollback(
    client: MlflowClient,
    model_name: str,
    *,
    reason: str,
    triggered_by: str,
    to_version: Version | None = None,
    expected_champion: Expected = UNCHECKED,
    lock_mode: str = "auto",
) -> list[dict[str, Any]]:
    """Champion goes back to ``to_version`` (default: ``previous-champion``).

    The rolled-back version gets a ``tradewind.rolled_back_at`` tag; ``previous-champion`` is
    cleared when it was the target, so a second rollback cannot bring the bad version back.
    """
    with _locked(client, model_name, lock_mode, triggered_by) as op:
        previous = current(client, model_name, PREVIOUS_CHAMPION)
        target = _norm(to_version) or previous
        if target is None:
            raise NothingToPromote(f"{model_name}: no '{PREVIOUS_CHAMPION}' alias and no version to roll back to")
        champion = current(client, model_name, CHAMPION)
        if expected_champion is not UNCHECKED and _norm(expected_champion) != champion:
            raise AliasConflict(model_name, CHAMPION, _norm(expected_champion), champion, "before rollback")
        why = {"reason": reason, "triggered_by": triggered_by, "operation": op}
        moves = [(CHAMPION, champion, target)] + ([(PREVIOUS_CHAMPION, previous, None)] if previous == target else [])
        marks = [(champion, ROLLED_BACK_TAG, _now())] if champion is not None and champion != target else []
        return _carry_out(client, model_name, moves, why, marks)
