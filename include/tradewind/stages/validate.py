"""Stage ``validate``: one raw partition through its Great Expectations suite.

Pass: the validated partition is written and the outcome's ``lineage`` is what the validated Asset
event carries (with ``replaces`` when it replaced an earlier delivery of the day). Fail: the batch is
copied to the quarantine with its report and the outcome says why (``success`` false, each failed
expectation in ``message``; ``superseded`` when the day's earlier validated partition was withdrawn);
the CLI then exits 3. Any error while checking the batch is such a failure too. An unknown data set,
a malformed date or a day never ingested is bad input (exit 2); a storage that cannot be read or
written is a failure worth a retry (exit 1).
"""

from __future__ import annotations

from typing import Any

from tradewind.stages.inputs import dataset_day
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath


def validate(
    dataset: str,
    date: str,
    *,
    root: str | LakePath | None = None,
    raw_lineage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``date`` of ``dataset``; the outcome (``success``, ``message``, ``lineage``, report URIs)."""
    from tradewind.validation.runner import PartitionNotFound, validate_partition

    settings, spec, day = dataset_day(dataset, date)
    try:
        outcome = validate_partition(
            spec, root if root is not None else settings.storage.root, day, raw_lineage=raw_lineage
        )
    except PartitionNotFound as err:
        raise StageInputError(str(err)) from err
    return {**outcome.to_dict(), "message": outcome.message()}
