"""Retention: each zone keeps what it holds for as many days as the profile says, then it is removed.

A zone is a folder per data set whose entries (units) are removed whole once old enough:

=====================  ==============================================================  =====================
zone                   unit                                                            age from
=====================  ==============================================================  =====================
``inference_log``      ``<log root>/inference/<dataset>/date=YYYY-MM-DD/``             the end of that day
``drift_reports``      ``<lake>/reports/drift/<dataset>/v<version>/<checked at>/``     its newest file
``validation_reports`` ``<lake>/reports/validation/<dataset>/date=.../<result id>/``   its newest file
``quarantine``         ``<lake>/quarantine/<dataset>/date=.../<result id>/``           its newest file
``checkpoints``        ``<lake>/models/<dataset>/<run>/checkpoints/``                  its newest file
=====================  ==============================================================  =====================

Nothing else is ever touched: not ``raw/`` or ``validated/`` (a unit that lies there is refused), not a
model folder (only its ``checkpoints/``), and no unit that holds or lies under a ``protected`` URI (the
stage passes every artifact location the model registry still references). Every path goes through
fsspec (``UPath`` or Airflow's ``ObjectStoragePath``), so the same sweep runs on ``file://``, ``s3://``
and ``gs://``. Each removal is logged with its path, age and bytes, and returned.

What a removal leaves behind goes with it: a folder it empties (``quarantine/<dataset>/date=.../``;
object stores have no empty folders, so there is nothing to do) and, for a quarantine, the
``report_location.json`` pointer in ``reports/validation/<dataset>/date=.../<result id>/`` that
points at it (with its folders, once empty). Each is logged and returned too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from tradewind.storage import LakePath, as_path, is_local, uri

log = logging.getLogger(__name__)

DAY: Final = dt.timedelta(days=1)
# Zones no retention rule may ever reach into.
KEPT_ZONES: Final = ("raw", "validated")
# Where a quarantined batch's report pointer is (``<lake>/reports/validation/<dataset>/date=.../<id>/``).
POINTER_ZONE: Final = ("reports", "validation")
POINTER: Final = "report_location.json"


@dataclass(frozen=True)
class Zone:
    """Where a zone's units are: ``parts`` below the root, ``depth`` folders down, then ``leaf`` (if any)."""

    parts: tuple[str, ...]
    depth: int
    leaf: str | None = None
    by_partition_date: bool = False


ZONES: Final = {
    "inference_log": Zone(("inference",), 1, by_partition_date=True),
    "drift_reports": Zone(("reports", "drift"), 2),
    "validation_reports": Zone(("reports", "validation"), 2),
    "quarantine": Zone(("quarantine",), 2),
    "checkpoints": Zone(("models",), 1, leaf="checkpoints"),
}


@dataclass(frozen=True)
class Removed:
    path: str
    age_days: float
    bytes: int


@dataclass
class Sweep:
    """What one zone's sweep of one data set did."""

    zone: str
    dataset: str
    days: int | None
    removed: list[Removed] = field(default_factory=list)
    kept: int = 0
    protected: list[str] = field(default_factory=list)
    # Folders a removal left empty, and report pointers to a removed quarantine: removed with it.
    folders: list[str] = field(default_factory=list)
    pointers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "removed_count": len(self.removed),
            "removed_bytes": sum(r.bytes for r in self.removed),
        }


def _modified(info: dict[str, Any]) -> dt.datetime | None:
    """A file's modification time from fsspec's ``info`` (local ``mtime``, S3 ``LastModified``, GCS ``updated``;
    ``created`` for stores whose objects are written once)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, str) and value:
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _files(unit: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = unit.fs.find(unit.path, detail=True)
    return found


def _age(unit: Any, files: dict[str, dict[str, Any]], zone: Zone, now: dt.datetime) -> float | None:
    """Days since the unit was last written (or since its partition's day ended); ``None``: unknown."""
    if zone.by_partition_date:
        try:
            day = dt.date.fromisoformat(unit.name.removeprefix("date="))
        except ValueError:
            return None
        return (now - dt.datetime.combine(day, dt.time(), dt.UTC) - DAY) / DAY
    stamps = [m for m in (_modified(i) for i in files.values()) if m is not None]
    return (now - max(stamps)) / DAY if stamps else None


def _units(base: Any, zone: Zone) -> Iterator[Any]:
    level = [base]
    for _ in range(zone.depth):
        level = [child for folder in level if folder.is_dir() for child in folder.iterdir() if child.is_dir()]
    for unit in level:
        target = unit / zone.leaf if zone.leaf else unit
        if target.is_dir():
            yield target


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def _guard(root: Any, unit_uri: str) -> None:
    for kept in KEPT_ZONES:
        if _under(unit_uri, uri(as_path(root) / kept)):
            raise RuntimeError(f"retention refuses to remove {unit_uri}: it lies in the {kept} zone")


def sweep_zone(
    name: str,
    root: str | LakePath,
    dataset: str,
    days: int | None,
    *,
    now: dt.datetime | None = None,
    protected: Iterable[str] = (),
    lake_root: str | LakePath | None = None,
    remove: Callable[[Any], None] | None = None,
) -> Sweep:
    """Remove the units of zone ``name`` of ``dataset`` under ``root`` older than ``days`` (``None``: keep all)."""
    zone = ZONES[name]
    result = Sweep(zone=name, dataset=dataset, days=days)
    if days is None:
        return result
    now = now or dt.datetime.now(dt.UTC)
    guarded = [p.rstrip("/") for p in protected if p]
    base = as_path(root).joinpath(*zone.parts, dataset)
    for unit in _units(base, zone):
        unit_uri = uri(unit)
        if any(_under(unit_uri, p) or _under(p, unit_uri) for p in guarded):
            result.protected.append(unit_uri)
            continue
        files = _files(unit)
        age = _age(unit, files, zone, now)
        if age is None or age < days:
            result.kept += 1
            continue
        lake = lake_root if lake_root is not None else root
        _guard(lake, unit_uri)
        size = sum(int(i.get("size") or 0) for i in files.values())
        (remove or _remove)(unit)
        result.removed.append(Removed(path=unit_uri, age_days=round(age, 2), bytes=size))
        log.info("Retention %s: removed %s (%.1f days old, %d bytes)", name, unit_uri, age, size)
        if zone.leaf is None:  # a model folder stays, even with its checkpoints gone
            result.folders += _prune(unit.parent, base, lake, name)  # e.g. quarantine/<dataset>/date=.../
        if name == "quarantine":
            _drop_pointer(lake, dataset, unit, result)
    return result


def _remove(unit: Any) -> None:
    unit.fs.rm(unit.path, recursive=True)


def _prune(folder: Any, base: Any, lake: Any, zone: str) -> list[str]:
    """Remove ``folder`` and its parents up to (not including) ``base`` while they are empty.

    Local file systems only: an object store has no folders, only keys, and a prefix with no keys is gone.
    """
    pruned: list[str] = []
    stop = uri(base).rstrip("/")
    while is_local(folder) and _under(uri(folder), stop) and uri(folder).rstrip("/") != stop:
        if not folder.is_dir() or any(folder.iterdir()):
            break
        _guard(lake, uri(folder))
        folder.rmdir()
        pruned.append(uri(folder))
        log.info("Retention %s: removed the emptied folder %s", zone, uri(folder))
        folder = folder.parent
    return pruned


def _drop_pointer(lake: Any, dataset: str, unit: Any, result: Sweep) -> None:
    """Remove the report pointer of a removed quarantine (``<date>/<result id>/report_location.json``)."""
    reports = as_path(lake).joinpath(*POINTER_ZONE, dataset)
    pointer = reports / unit.parent.name / unit.name / POINTER
    if not pointer.exists() or not _points_at(pointer, unit):
        return
    pointer.unlink()
    result.pointers.append(uri(pointer))
    log.info("Retention %s: removed %s (it pointed at the removed %s)", result.zone, uri(pointer), uri(unit))
    result.folders += _prune(pointer.parent, reports, lake, result.zone)


def _points_at(pointer: Any, unit: Any) -> bool:
    """Does the pointer name this quarantine (by its place in the lake, whatever the lake's URI)?"""
    try:
        target = str(json.loads(pointer.read_text(encoding="utf-8")).get("quarantine_uri") or "")
    except (ValueError, AttributeError):
        return False  # not a pointer this project wrote: left alone
    tail = "/".join(unit.path.rstrip("/").split("/")[-4:])  # quarantine/<dataset>/date=.../<result id>
    return target.rstrip("/").endswith("/" + tail)
