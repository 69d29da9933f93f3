"""Size guards: large days stream through ingest in bounded chunks (timings live in bench/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tradewind.data import synthetic
from tradewind.data.ingest import ingest_partition
from tradewind.data.spec import load_spec
from tradewind.settings import CONFIG_DIR

pytestmark = pytest.mark.perf

THURSDAY = dt.date(2026, 1, 8)  # weekday volume factor 1.0: rows == rows_per_day
ROWS = 600_000


def test_generator_never_yields_more_than_a_chunk() -> None:
    sizes = [len(f) for f in synthetic.iter_day(THURSDAY, rows_per_day=ROWS, chunk_rows=100_000)]
    assert sum(sizes) == ROWS
    assert max(sizes) <= 100_000


def test_ingest_writes_a_large_day_in_row_groups(tmp_path: Path) -> None:
    spec = load_spec(
        CONFIG_DIR / "datasets" / "transactions.yaml",
        overrides={"source": {"options": {"rows_per_day": ROWS}}},
    )
    lineage = ingest_partition(spec, f"file://{tmp_path}", THURSDAY, chunk_rows=100_000)
    assert lineage["row_count"] == ROWS
    (part,) = (tmp_path / "raw" / "transactions" / f"date={THURSDAY}").glob("part-*.parquet")
    meta = pq.ParquetFile(part).metadata
    assert meta.num_rows == ROWS
    assert meta.num_row_groups >= ROWS // 100_000  # one row group per chunk: never one frame in memory
