"""Validated data: the committed partitions of the ``validated`` zone, read through their manifests.

Only the ``validated`` zone is read, and only what a committed manifest lists, so a trainer never
sees a half-written or quarantined day. A day whose re-delivered raw data was quarantined is
*superseded*: a ``_superseded.json`` marker beside its manifest names the manifest it withdraws, and
every reader here treats the day as missing until a good re-delivery commits a new manifest (which
clears the marker; a marker naming another manifest than the committed one is ignored).
The content hash of every partition travels with the
frame: it is the data identity that the registry records and the retrain guard compares.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tradewind.data.ingest import VALIDATED, parse_day, partition_path
from tradewind.data.reader import read_stored
from tradewind.data.spec import DatasetSpec
from tradewind.storage import LakePath, Manifest, as_path, atomic_write_text, read_manifest, uri

log = logging.getLogger(__name__)


SUPERSEDED = "_superseded.json"


def superseded_record(partition: LakePath, manifest: Manifest) -> dict[str, Any] | None:
    """The marker withdrawing this committed manifest, or None (no marker, or one for another manifest)."""
    path = partition / SUPERSEDED
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    same = (record.get("content_hash"), record.get("written_at")) == (manifest.content_hash, manifest.written_at)
    return record if same else None


def committed_manifest(partition: LakePath) -> Manifest | None:
    """The manifest of a validated partition that readers may use: committed and not superseded."""
    manifest = read_manifest(partition)
    if manifest is None or superseded_record(partition, manifest) is not None:
        return None
    return manifest


def mark_superseded(partition: LakePath, **why: Any) -> dict[str, Any] | None:
    """Withdraw the committed validated partition (atomic: one small object); its record, or None if none.

    ``why`` (the quarantine's result id and URIs) is kept in the marker for whoever looks.
    """
    manifest = committed_manifest(partition)
    if manifest is None:
        return None
    record = {
        "partition_uri": uri(partition),
        "content_hash": manifest.content_hash,
        "raw_content_hash": manifest.extra.get("raw_content_hash"),
        "written_at": manifest.written_at,
        "superseded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **why,
    }
    atomic_write_text(partition / SUPERSEDED, json.dumps(record, indent=2, sort_keys=True, default=str))
    log.warning(
        "Withdrew %s (content hash %s): superseded by a quarantined re-delivery",
        uri(partition),
        manifest.content_hash[:12],
    )
    return record


def clear_superseded(partition: LakePath) -> None:
    """Drop a marker once a new manifest is committed (readers already ignore a marker for another manifest)."""
    (partition / SUPERSEDED).unlink(missing_ok=True)


class MissingPartitions(FileNotFoundError):
    """Some requested days have no committed validated partition (the message names each one)."""

    def __init__(self, dataset: str, missing: list[str]) -> None:
        super().__init__(
            f"{dataset}: no committed validated partition for {len(missing)} date(s): "
            f"{', '.join(missing)} (ingest and validate them first)"
        )
        self.dataset = dataset
        self.missing = missing


@dataclass
class ValidatedData:
    """The rows of some validated days and the hashes that identify each day.

    ``content_hashes`` are the hashes the validated Asset events carry as ``content_hash`` (the
    content of the raw partition that passed validation, recorded in the validated manifest as
    ``raw_content_hash``), so a run's data identity matches the events that triggered it.
    ``validated_hashes`` are the hashes of the validated files actually read.
    """

    frame: pd.DataFrame
    content_hashes: dict[str, str] = field(default_factory=dict)
    validated_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def data_hash(self) -> str:
        return combined_hash(self.content_hashes)


def combined_hash(content_hashes: dict[str, str]) -> str:
    """One hash for a set of partitions: order-independent, changes when any day changes."""
    h = hashlib.sha256()
    for day in sorted(content_hashes):
        h.update(f"{day}={content_hashes[day]};".encode())
    return h.hexdigest()


def parse_dates(dates: Iterable[str | dt.date] | str) -> list[dt.date]:
    """Days from dates or a comma-separated ``YYYY-MM-DD`` list; duplicates removed, order kept."""
    items = dates.split(",") if isinstance(dates, str) else list(dates)
    days: list[dt.date] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        day = parse_day(item.strip() if isinstance(item, str) else item)
        if day not in days:
            days.append(day)
    if not days:
        raise ValueError("dates: no date given (expected YYYY-MM-DD[,YYYY-MM-DD...])")
    return days


def validated_manifests(
    spec: DatasetSpec, root: str | LakePath, dates: Iterable[str | dt.date] | str
) -> dict[dt.date, tuple[LakePath, Manifest]]:
    """Each day's validated partition and manifest; :class:`MissingPartitions` names the missing ones."""
    partitions = {day: partition_path(root, VALIDATED, spec.name, day) for day in parse_dates(dates)}
    manifests = {day: committed_manifest(path) for day, path in partitions.items()}
    missing = [_missing(day, partitions[day]) for day, m in manifests.items() if m is None]
    if missing:
        raise MissingPartitions(spec.name, missing)
    return {day: (partitions[day], m) for day, m in manifests.items() if m is not None}


def _missing(day: dt.date, partition: LakePath) -> str:
    manifest = read_manifest(partition)
    record = superseded_record(partition, manifest) if manifest is not None else None
    if record is None:
        return f"{day} ({uri(partition)})"
    return f"{day} (superseded: its re-delivery was quarantined, result {record.get('result_id')})"


def content_hashes(manifests: dict[dt.date, tuple[LakePath, Manifest]]) -> dict[str, str]:
    """Per day, the hash the validated Asset events carry (the raw content that passed validation)."""
    return {
        day.isoformat(): str(m.extra.get("raw_content_hash") or m.content_hash) for day, (_, m) in manifests.items()
    }


def read_validated(spec: DatasetSpec, root: str | LakePath, dates: Iterable[str | dt.date] | str) -> ValidatedData:
    """Rows and content hashes of ``dates``; raises :class:`MissingPartitions` before reading any data."""
    manifests = validated_manifests(spec, root, dates)
    frames = [read_stored(path, manifest) for path, manifest in manifests.values()]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    log.info("Read %d validated partition(s) of %s: %d rows", len(frames), spec.name, len(frame))
    return ValidatedData(
        frame=frame,
        content_hashes=content_hashes(manifests),
        validated_hashes={day.isoformat(): m.content_hash for day, (_, m) in manifests.items()},
    )


def load_validated(spec: DatasetSpec, root: str | LakePath, dates: Iterable[str | dt.date] | str) -> pd.DataFrame:
    """The rows of the validated partitions of ``dates`` as one frame (see :func:`read_validated`)."""
    return read_validated(spec, root, dates).frame


def available_dates(spec: DatasetSpec, root: str | LakePath, *, until: dt.date, window_days: int) -> list[dt.date]:
    """The committed validated partitions among the ``window_days`` days ending at ``until``."""
    if window_days < 1:
        raise ValueError(f"window_days: must be at least 1, got {window_days}")
    days = [until - dt.timedelta(days=i) for i in range(window_days)]
    return sorted(d for d in days if committed_manifest(partition_path(root, VALIDATED, spec.name, d)) is not None)


def latest_dates(spec: DatasetSpec, root: str | LakePath, count: int = 1) -> list[dt.date]:
    """The newest ``count`` committed validated partitions of ``spec`` (oldest first; [] when none).

    A folder without a committed manifest (a write in progress or abandoned) or superseded does not count.
    """
    zone = as_path(root) / VALIDATED / spec.name
    if not zone.exists():
        return []
    found = []
    for child in zone.iterdir():
        name = child.name
        if name.startswith("date="):
            with contextlib.suppress(ValueError):
                found.append(dt.date.fromisoformat(name.removeprefix("date=")))
    newest: list[dt.date] = []
    for day in sorted(found, reverse=True):
        if committed_manifest(partition_path(root, VALIDATED, spec.name, day)) is not None:
            newest.append(day)
            if len(newest) == count:
                break
    return sorted(newest)
