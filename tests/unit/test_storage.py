"""Partitions: atomic commits through a manifest, idempotent re-runs, clean aborts."""

from __future__ import annotations

import hashlib
import json

import pytest
from upath import UPath

from tradewind.storage import (
    MANIFEST,
    Manifest,
    PartFile,
    PartitionWriter,
    atomic_write_bytes,
    atomic_write_text,
    content_hash,
    copy_file,
    read_manifest,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def partition(tmp_path) -> UPath:
    return UPath(f"file://{tmp_path}") / "raw" / "ds" / "date=2026-01-05"


def _write(partition: UPath, parts: list[bytes], rows: list[int | None] | None = None) -> PartitionWriter:
    writer = PartitionWriter(partition, "bin")
    for i, data in enumerate(parts):
        with writer.open_part(rows=(rows or [None] * len(parts))[i]) as fh:
            fh.write(data)
    return writer


def _commit(writer: PartitionWriter) -> Manifest:
    return writer.commit(dataset="ds", partition_date="2026-01-05", schema_version=3, extra={"source": "test"})


def _names(partition: UPath) -> set[str]:
    return {p.name for p in partition.iterdir()}


def test_commit_writes_a_manifest_with_rows_and_hashes(partition):
    manifest = _commit(_write(partition, [b"alpha", b"beta!"], rows=[2, 3]))
    assert read_manifest(partition) == manifest
    assert manifest.row_count == 5
    assert (manifest.dataset, manifest.partition_date, manifest.schema_version) == ("ds", "2026-01-05", 3)
    assert manifest.extra == {"source": "test"}
    assert [f.bytes for f in manifest.files] == [5, 5]
    assert [f.sha256 for f in manifest.files] == [hashlib.sha256(b).hexdigest() for b in (b"alpha", b"beta!")]
    assert manifest.content_hash == content_hash(manifest.files)
    assert _names(partition) == {MANIFEST, *(f.name for f in manifest.files)}
    for f in manifest.files:
        assert (partition / f.name).stat().st_size == f.bytes
    on_disk = json.loads((partition / MANIFEST).read_text())
    assert on_disk["row_count"] == 5
    assert on_disk["content_hash"] == manifest.content_hash


def test_unknown_row_count_is_none(partition):
    assert _commit(_write(partition, [b"x", b"y"], rows=[1, None])).row_count is None


def test_same_bytes_give_the_same_content_hash(partition, tmp_path):
    first = _commit(_write(partition, [b"alpha", b"beta"]))
    other = _commit(_write(UPath(f"file://{tmp_path}/elsewhere"), [b"alpha", b"beta"]))
    changed = _commit(_write(UPath(f"file://{tmp_path}/changed"), [b"alpha", b"beta?"]))
    assert first.content_hash == other.content_hash
    assert first.content_hash != changed.content_hash
    assert first.files[0].name != other.files[0].name  # every write has its own file names


def test_content_hash_is_deterministic_and_order_sensitive():
    a, b = PartFile("a", 1, "1" * 64), PartFile("b", 1, "2" * 64)
    assert content_hash([a, b]) == content_hash([a, b])
    assert content_hash([a, b]) != content_hash([b, a])
    assert content_hash([]) == hashlib.sha256().hexdigest()


def test_uncommitted_new_partition_is_invisible(partition):
    _write(partition, [b"half written"])
    assert any(n.startswith("part-") for n in _names(partition))
    assert read_manifest(partition) is None


def test_uncommitted_rewrite_leaves_the_old_manifest_visible(partition):
    old = _commit(_write(partition, [b"old"], rows=[1]))
    writer = _write(partition, [b"new", b"more"], rows=[1, 1])
    assert read_manifest(partition) == old
    for f in old.files:
        assert (partition / f.name).read_bytes() == b"old"
    assert len(writer.files) == 2


def test_recommit_replaces_the_partition_and_removes_stale_parts(partition):
    old = _commit(_write(partition, [b"old-1", b"old-2"]))
    new = _commit(_write(partition, [b"new"], rows=[1]))
    assert read_manifest(partition) == new
    assert _names(partition) == {MANIFEST, new.files[0].name}
    assert not any((partition / f.name).exists() for f in old.files)
    assert new.content_hash != old.content_hash


def test_recommit_keeps_files_that_are_not_parts(partition):
    _commit(_write(partition, [b"old"]))
    (partition / "_SUCCESS").write_bytes(b"")
    _commit(_write(partition, [b"new"]))
    assert "_SUCCESS" in _names(partition)


def test_abort_removes_only_its_own_files(partition):
    committed = _commit(_write(partition, [b"kept"], rows=[1]))
    writer = _write(partition, [b"gone-1", b"gone-2"])
    writer.abort()
    assert writer.files == []
    assert _names(partition) == {MANIFEST, committed.files[0].name}
    assert read_manifest(partition) == committed
    assert (partition / committed.files[0].name).read_bytes() == b"kept"


def test_a_part_that_failed_while_written_is_removed_and_abort_leaves_the_commit(partition):
    committed = _commit(_write(partition, [b"kept"], rows=[1]))
    writer = PartitionWriter(partition, "bin")

    def write_half() -> None:
        with writer.open_part() as fh:
            fh.write(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_half()
    writer.abort()
    assert _names(partition) == {MANIFEST, committed.files[0].name}
    assert read_manifest(partition) == committed


def test_manifest_round_trips_through_json(partition):
    manifest = _commit(_write(partition, [b"abc"], rows=[7]))
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_atomic_write_replaces_content_and_leaves_no_temp_files(tmp_path):
    target = UPath(f"file://{tmp_path}") / "deep" / "folder" / "state.json"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_text(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_copy_file_streams_bytes_exactly(tmp_path):
    src = UPath(f"file://{tmp_path}/src.bin")
    payload = bytes(range(256)) * 1000
    src.write_bytes(payload)
    dst = UPath(f"file://{tmp_path}/a/b/dst.bin")
    copy_file(src, dst, chunk=1000)
    assert dst.read_bytes() == payload


def test_plain_string_roots_work(tmp_path):
    partition = UPath(str(tmp_path / "plain"))
    _commit(_write(partition, [b"x"], rows=[1]))
    assert read_manifest(partition).row_count == 1
