"""Stage ``rollback``: the previous champion (or a named version) back as champion, in the registry.

The registry moves first and records the move (reason, who triggered it); the serving target
follows afterwards (the Airflow layer syncs the local server or the InferenceService). A move that
a crash left half-done is completed before the champion is read.
"""

from __future__ import annotations

from typing import Any

from tradewind.stages.outcome import StageInputError


def rollback(
    dataset: str,
    *,
    client: Any,
    to_version: str | None = None,
    reason: str = "manual rollback",
    triggered_by: str = "manual",
) -> dict[str, Any]:
    """Roll ``dataset``'s champion back; the champion before and after, the challenger, the moves."""
    from tradewind.registry.aliases import CHALLENGER, CHAMPION, NothingToPromote, current, repair
    from tradewind.registry.aliases import rollback as move_back

    repair(client, dataset, triggered_by=triggered_by)  # a move a crash left half-done, before reading
    before = current(client, dataset, CHAMPION)
    target = str(to_version).strip() if to_version not in (None, "", "None") else None
    try:
        moves = move_back(
            client, dataset, reason=reason or "manual rollback", triggered_by=triggered_by, to_version=target,
            expected_champion=before,
        )  # fmt: skip
    except NothingToPromote as err:
        raise StageInputError(str(err)) from err
    return {
        "model_name": dataset,
        "champion_before": before,
        "champion": current(client, dataset, CHAMPION),
        "challenger": current(client, dataset, CHALLENGER),
        "moves": moves,
    }
