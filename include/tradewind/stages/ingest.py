"""Stage ``ingest``: land one day of a data set as a raw partition.

The synthetic source streams the day (with optional drift knobs and corruptions for tests and the
demo); a ``files`` source copies the day's files byte for byte. The outcome is the partition's
lineage record, which the raw Asset event carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tradewind.settings import get_settings
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath


def ingest(
    dataset: str,
    date: str,
    *,
    root: str | LakePath | None = None,
    source_uri: str | None = None,
    drift: str | None = None,
    corruptions: Sequence[str] = (),
) -> dict[str, Any]:
    """Land ``date`` of ``dataset`` under ``root`` (default: the profile's lake); return its lineage."""
    from tradewind.data.ingest import ingest_partition
    from tradewind.data.knobs import drift_knobs

    settings = get_settings()
    try:
        spec = settings.spec(dataset)
        return ingest_partition(
            spec,
            root if root is not None else settings.storage.root,
            date,
            source_uri=source_uri or None,
            drift=drift_knobs(drift),
            corruptions=list(corruptions),
        )
    except ValueError as err:  # a bad date, an unknown corruption or drift kind, a knob on a files source
        raise StageInputError(str(err)) from err
