"""Stage ``ingest``: land one day of a data set as a raw partition.

The synthetic source streams the day (with optional drift knobs and corruptions for tests and the
demo); a ``files`` source copies the day's files byte for byte, and only from under the allowed
roots (:mod:`tradewind.data.sources`). The outcome is the partition's
lineage record, which the raw Asset event carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tradewind.settings import get_settings
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath, as_path, uri


def ingest(
    dataset: str,
    date: str,
    *,
    root: str | LakePath | None = None,
    source_uri: str | None = None,
    drift: str | None = None,
    corruptions: Sequence[str] = (),
    open_source: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Land ``date`` of ``dataset`` under ``root`` (default: the profile's lake); return its lineage.

    A files source reads only under the profile's allowed roots (:meth:`Settings.source_roots`); a source
    elsewhere is bad input, refused before a byte is read. ``open_source`` turns the source URI into a
    path object (default: a plain ``UPath``; the Airflow layer binds it to the sources' connection)."""
    from tradewind.data.ingest import ingest_partition
    from tradewind.data.knobs import drift_knobs

    settings = get_settings()
    try:
        spec = settings.spec(dataset)
        lake = root if root is not None else settings.storage.root
        return ingest_partition(
            spec,
            lake,
            date,
            source_uri=source_uri or None,
            drift=drift_knobs(drift),
            corruptions=list(corruptions),
            allowed_roots=settings.source_roots(spec, uri(as_path(lake))),
            open_source=open_source or as_path,
        )
    except ValueError as err:  # a bad date, an unknown corruption or drift kind, a source outside the roots
        raise StageInputError(str(err)) from err
