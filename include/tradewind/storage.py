"""Atomic, idempotent partitions on any fsspec file system.

Paths are ``upath.UPath`` objects; in Airflow they are ``ObjectStoragePath`` (a proxy with the
UPath API, bound to a connection), so the same code writes to ``file://``, ``s3://`` and ``gs://``.

A partition is a folder of data files plus a ``_manifest.json``. Writing one:

1. every data file is written under a name unique to this write (``part-<token>-00000.parquet``),
   so a writer never touches the files a reader may be reading;
2. the manifest, which lists the files, their sizes, rows, hashes and (for a delivered file) the name it
   was delivered as, is written last and in one
   atomic step (a rename on local disks, a single PUT on object stores);
3. files no longer in the manifest are removed.

Readers only trust the manifest, so a half-written partition is never visible and re-running a
date replaces the partition as a whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import IO, Any

from upath import UPath

log = logging.getLogger(__name__)

# A lake path: a UPath, or Airflow's ObjectStoragePath (a proxy with the same API, which the core
# cannot name without importing Airflow).
LakePath = Any

MANIFEST = "_manifest.json"
LOCAL_PROTOCOLS = {"", "file", "local"}


def as_path(uri: str | LakePath) -> UPath:
    """A path object for a URI or plain path.

    Path objects pass through: a ``UPath`` or Airflow's ``ObjectStoragePath`` (a proxy with the
    same API, bound to an Airflow connection), so the caller decides the credentials.
    """
    if isinstance(uri, str):
        return UPath(uri)
    if hasattr(uri, "fs") and hasattr(uri, "open"):
        return uri
    return UPath(uri)


def uri(path: UPath) -> str:
    """A plain URI for a path (``s3://bucket/key``), without the connection id Airflow adds."""
    protocol = getattr(path, "protocol", "") or "file"
    protocol = protocol[0] if isinstance(protocol, tuple | list) else protocol
    if protocol in LOCAL_PROTOCOLS:
        return f"file://{os.path.abspath(path.path)}"
    return f"{protocol}://{path.path}"


def is_local(path: UPath) -> bool:
    protocol = getattr(path, "protocol", "") or ""
    return protocol in LOCAL_PROTOCOLS


def _fs_path(path: UPath) -> str:
    return path.path


def atomic_write_bytes(path: UPath, data: bytes) -> None:
    """Write a whole object so that readers see the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_local(path):
        with path.open("wb") as fh:  # one PUT: atomic on object stores
            fh.write(data)
        return
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    with tmp.open("wb") as fh:
        fh.write(data)
    path.fs.mv(_fs_path(tmp), _fs_path(path))


def atomic_write_text(path: UPath, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class _HashingWriter:
    """A write-only file wrapper that counts and hashes what passes through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self._fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@dataclass
class PartFile:
    name: str
    bytes: int
    sha256: str
    rows: int | None = None
    # The file as delivered (its path under the source's folder, or its object key); None for a file this
    # project wrote, or a manifest written before sources were recorded.
    source: str | None = None

    def label(self) -> str:
        """The file as a user knows it: ``a.csv (stored as part-...-00000.csv)``, or the stored name alone."""
        return f"{self.source} (stored as {self.name})" if self.source else self.name


@dataclass
class Manifest:
    """What a committed partition holds; its ``content_hash`` identifies the data."""

    dataset: str
    partition_date: str
    format: str
    files: list[PartFile]
    schema_version: int
    row_count: int | None
    content_hash: str
    written_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        known = {f.name for f in fields(PartFile)}
        data["files"] = [PartFile(**{k: v for k, v in f.items() if k in known}) for f in data["files"]]
        return cls(**data)


def content_hash(files: list[PartFile]) -> str:
    """Hash of a partition's content: the hashes of its files, in order."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.sha256.encode())
    return h.hexdigest()


class PartitionWriter:
    """Writes the files of one partition and commits them with a manifest."""

    def __init__(self, partition: UPath, fmt: str) -> None:
        self.partition = partition
        self.format = fmt
        self.token = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.files: list[PartFile] = []
        partition.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def open_part(self, rows: int | None = None, source: str | None = None) -> Iterator[_HashingWriter]:
        """A binary file handle for the next data file; sizes and hashes (and the delivered name) are recorded."""
        name = f"part-{self.token}-{len(self.files):05d}.{self.format}"
        try:
            with (self.partition / name).open("wb") as fh:
                writer = _HashingWriter(fh)
                yield writer
        except BaseException:  # a file left half-written: not listed, so abort() would not find it
            (self.partition / name).unlink(missing_ok=True)
            raise
        digest = writer.sha256.hexdigest()
        self.files.append(PartFile(name=name, bytes=writer.bytes, sha256=digest, rows=rows, source=source))

    def set_rows(self, rows: int | None) -> None:
        """Record the row count of the file written last (None: it could not be read)."""
        self.files[-1].rows = rows

    def commit(
        self, *, dataset: str, partition_date: str, schema_version: int, extra: dict[str, Any] | None = None
    ) -> Manifest:
        counts = [f.rows for f in self.files]
        manifest = Manifest(
            dataset=dataset,
            partition_date=partition_date,
            format=self.format,
            files=self.files,
            schema_version=schema_version,
            row_count=None if any(c is None for c in counts) else sum(c for c in counts if c is not None),
            content_hash=content_hash(self.files),
            written_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            extra=extra or {},
        )
        atomic_write_text(self.partition / MANIFEST, manifest.to_json())
        self._remove_stale({f.name for f in self.files})
        log.info(
            "Committed %s: %d file(s), %s rows, content hash %s",
            self.partition,
            len(self.files),
            manifest.row_count,
            manifest.content_hash[:12],
        )
        return manifest

    def abort(self) -> None:
        """Remove what this writer wrote; the committed partition (if any) is untouched."""
        for f in self.files:
            (self.partition / f.name).unlink(missing_ok=True)
        self.files = []
        if is_local(self.partition) and not any(self.partition.iterdir()):
            self.partition.rmdir()  # leave no empty folder behind for a partition never committed

    def _remove_stale(self, keep: set[str]) -> None:
        for child in self.partition.iterdir():
            if child.name != MANIFEST and child.name not in keep and child.name.startswith("part-"):
                child.unlink(missing_ok=True)


def read_manifest(partition: UPath) -> Manifest | None:
    """The committed manifest of a partition, or ``None`` when nothing was committed."""
    path = partition / MANIFEST
    if not path.exists():
        return None
    return Manifest.from_json(path.read_text(encoding="utf-8"))


def copy_file(src: UPath, dst: UPath, chunk: int = 8 << 20) -> None:
    """Stream one file to another place (across file systems too)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, dst.open("wb") as fout:
        while block := fin.read(chunk):
            fout.write(block)
