"""Stage ``retention``: remove what a zone has kept longer than the profile's ``retention:`` allows.

One zone per call (``inference_log``, ``drift_reports``, ``validation_reports``, ``quarantine``,
``checkpoints``), for every data set of the profile or one. The sweep itself is
:mod:`tradewind.data.retention`; the checkpoints sweep first asks the model registry for every
artifact location its versions still reference and never removes one. The outcome lists every
removed path with its age and bytes, the folders the removals emptied and the report pointers to a
removed quarantine (both removed too), and the totals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tradewind.settings import RETENTION_DEFAULTS, get_settings
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath


def registry_references(client: Any, model_name: str) -> list[str]:
    """Every artifact location a registered version of ``model_name`` references (its source, its run's artifacts)."""
    locations: list[str] = []
    for version in client.search_model_versions(f"name = '{model_name}'"):
        locations.append(str(version.source or ""))
        if version.run_id:
            locations.append(str(client.get_run(version.run_id).info.artifact_uri or ""))
    return [loc for loc in locations if loc]


def retention(
    zone: str,
    *,
    dataset: str | None = None,
    root: str | LakePath | None = None,
    log_root: str | LakePath | None = None,
    client: Any = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Sweep ``zone`` of ``dataset`` (default: every data set of the profile); the summary of what went."""
    from tradewind.data.retention import sweep_zone

    if zone not in RETENTION_DEFAULTS:
        raise StageInputError(f"zone: '{zone}' is not a retention zone (known: {', '.join(RETENTION_DEFAULTS)})")
    settings = get_settings()
    datasets = [dataset] if dataset else list(settings.datasets)
    if dataset and dataset not in settings.datasets:
        raise StageInputError(f"dataset: '{dataset}' is not a data set of profile {settings.profile}")
    lake = root if root is not None else settings.storage.root
    where = (log_root or settings.serving.inference_log_root or lake) if zone == "inference_log" else lake
    days = settings.retention.days(zone)
    sweeps = []
    for name in datasets:
        protected = registry_references(client, name) if zone == "checkpoints" and client is not None else []
        if zone == "checkpoints" and client is None and days is not None:
            raise StageInputError("the checkpoints sweep needs the model registry (to keep what it references)")
        sweeps.append(sweep_zone(zone, where, name, days, now=now, protected=protected, lake_root=lake).to_dict())
    return {
        "zone": zone,
        "days": days,
        "sweeps": sweeps,
        "removed_count": sum(s["removed_count"] for s in sweeps),
        "removed_bytes": sum(s["removed_bytes"] for s in sweeps),
        # What the removals left behind, removed with them: emptied folders, report pointers to a removed quarantine.
        "folders_removed": sum(len(s["folders"]) for s in sweeps),
        "pointers_removed": sum(len(s["pointers"]) for s in sweeps),
    }
