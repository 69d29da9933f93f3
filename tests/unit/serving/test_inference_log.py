"""The inference log: every scored record lands as Parquet; a slow or failing store never hurts a request."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from tests.unit.helpers import SPEC_PATH
from tests.unit.serving.conftest import AUTH, Registry, payload, records, server_of
from tradewind.data.columns import ColumnBatch
from tradewind.data.pii import PII_KEY_ENV, PiiKeyMissing, hash_value
from tradewind.data.spec import DatasetSpec, load_spec
from tradewind.serving.config import InferenceLogConfig
from tradewind.serving.contract import CHALLENGER, CHAMPION, ENTITY_HEADER, bucket
from tradewind.serving.inference_log import LOG_COLUMNS, InferenceLogWriter, ScoredBatch
from tradewind.serving.validation import RequestValidator

pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore:UPath 'gatedfile' filesystem")]


class GatedFileSystem(LocalFileSystem):
    """The local disk, except that writing a file waits until ``gate`` is set (a store that hangs)."""

    protocol = ("gatedfile",)
    gate = threading.Event()

    @classmethod
    def _strip_protocol(cls, path):
        return LocalFileSystem._strip_protocol(str(path).removeprefix("gatedfile://"))

    def _open(self, path, mode="rb", **kwargs):
        if "w" in mode and not self.gate.wait(timeout=60):
            raise TimeoutError("gate never opened")
        return super()._open(path, mode, **kwargs)


fsspec.register_implementation("gatedfile", GatedFileSystem, clobber=True)


def _read_log(root: Path) -> pd.DataFrame:
    files = sorted(root.glob("inference/transactions/date=*/part-*.parquet"))
    assert files, f"no inference log files under {root}"
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def _metric(client, name: str, variant: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{variant="{variant}"}} '):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{{variant={variant}}} not exposed")


def test_scored_records_land_as_parquet_with_features_score_and_provenance(
    serve, with_challenger: Registry, raw_rows: pd.DataFrame, log_root: Path, shipped_spec: DatasetSpec
):
    client = serve()
    client.put("/admin/traffic", json={"challenger_percent": 50}, headers=AUTH)
    candidates = [f"e{i}" for i in range(100)]
    entities = [e for e in candidates if bucket(e) < 50][:4] + [e for e in candidates if bucket(e) >= 50][:4]
    answers = {}
    for i, entity in enumerate(entities):
        rows = raw_rows.iloc[i * 5 : i * 5 + 5]
        answer = client.post("/predict", json=payload(rows), headers={ENTITY_HEADER: entity}).json()
        answers[answer["request_id"]] = (rows, answer)
    assert server_of(client).inference_log.flush()

    logged = _read_log(log_root)
    features = [c for c in shipped_spec.columns if c != shipped_spec.label]
    assert list(logged.columns) == [*features, *LOG_COLUMNS]
    assert len(logged) == 40
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert {p.name for p in (log_root / "inference" / "transactions").iterdir()} == {f"date={today}"}
    for request_id, (rows, answer) in answers.items():
        mine = logged[logged["request_id"] == request_id]
        assert mine["score"].tolist() == pytest.approx(answer["predictions"])
        assert set(mine["variant"]) == {answer["variant"]}
        assert set(mine["model_version"]) == {answer["model_version"]}
        assert mine["entity"].tolist() == rows["customer_id"].astype(str).tolist()
        assert mine["amount"].tolist() == rows["amount"].tolist()
        assert mine["transaction_id"].tolist() == rows["transaction_id"].tolist()
    assert set(logged["variant"]) == {CHAMPION, CHALLENGER}
    assert not logged["shadow"].any()
    assert "UTC" in str(logged["served_at"].dtype)
    assert (logged["served_at"].dt.date.astype(str) == today).all()


def test_shadow_copies_are_logged_and_marked(serve, with_challenger: Registry, raw_rows, log_root: Path):
    client = serve()
    client.put("/admin/traffic", json={"challenger_percent": 0, "shadow": True}, headers=AUTH)
    answer = client.post("/predict", json=payload(raw_rows.head(3))).json()
    assert server_of(client).inference_log.flush()
    logged = _read_log(log_root)
    assert len(logged) == 6
    shadow = logged[logged["shadow"]]
    assert set(shadow["variant"]) == {CHALLENGER}
    assert set(shadow["model_version"]) == {"2"}
    assert set(shadow["request_id"]) == {answer["request_id"]}
    served = logged[~logged["shadow"]]
    assert served["score"].tolist() == pytest.approx(answer["predictions"])
    assert not np.allclose(shadow["score"].to_numpy(), served["score"].to_numpy())  # model b scores differently


def test_the_log_is_flushed_on_shutdown(make_app, champion_only: Registry, raw_rows, log_root: Path):
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as client:  # flush_interval_s is an hour: only shutdown writes
        for _ in range(3):
            assert client.post("/predict", json=payload(raw_rows.head(4))).status_code == 200
        assert not log_root.exists()
    assert len(_read_log(log_root)) == 12


def test_a_hanging_store_never_blocks_a_request_and_a_full_queue_drops_and_counts(
    serve, champion_only: Registry, raw_rows, log_root: Path
):
    GatedFileSystem.gate.clear()
    try:
        client = serve(
            log_uri=f"gatedfile://{log_root}",
            inference_log={"flush_interval_s": 0.05, "flush_rows": 1, "queue_capacity": 30},
        )
        # Every request is answered while the store has not accepted a single byte (the gate opens only in
        # `finally`): a request that waited on the store would never return.
        for _ in range(10):
            assert client.post("/predict", json=payload(raw_rows.head(10))).status_code == 200
        dropped = _metric(client, "tradewind_inference_log_dropped_total", CHAMPION)
        assert 30 <= dropped <= 90  # one batch held by the stuck writer, 30 rows queued, the rest dropped
    finally:
        GatedFileSystem.gate.set()
    assert server_of(client).inference_log.flush()
    assert len(_read_log(log_root)) + dropped == 100


def test_a_failing_store_counts_drops_and_requests_still_succeed(serve, champion_only: Registry, raw_rows, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("the log's root cannot be a folder under a file")
    client = serve(log_uri=f"file://{blocker}/lake")
    for _ in range(3):
        assert client.post("/predict", json=payload(raw_rows.head(7))).status_code == 200
    server_of(client).inference_log.flush()
    assert _metric(client, "tradewind_inference_log_dropped_total", CHAMPION) == 21
    assert client.post("/predict", json=payload(raw_rows.head(1))).status_code == 200


def test_records_are_partitioned_by_the_utc_day_served_with_one_schema(tmp_path, shipped_spec, raw_rows):
    writer = InferenceLogWriter(f"file://{tmp_path}", shipped_spec, InferenceLogConfig(flush_interval_s=60))
    validator = RequestValidator(shipped_spec)
    full = validator.validate(records(raw_rows.head(2)))
    partial = records(raw_rows.iloc[2:4])
    for inst in partial:
        del inst["customer_id"], inst["transaction_id"]  # optional fields a client may leave out
    without_keys = validator.validate(partial)
    late = dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC)
    early_next = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 2026-03-01 22:30 UTC
    for frame, at in ((full, late), (without_keys, early_next), (full, late + dt.timedelta(seconds=2))):
        writer.put(ScoredBatch(frame, np.full(len(frame), 0.1), CHAMPION, "7", "r", "header-entity", False, at))
    writer.start()
    assert writer.flush()
    writer.close()
    first = pq.read_table(next((tmp_path / "inference/transactions/date=2026-03-01").glob("part-*.parquet")))
    second = pq.read_table(next((tmp_path / "inference/transactions/date=2026-03-02").glob("part-*.parquet")))
    assert first.schema == second.schema
    assert first.num_rows == 4
    assert second.num_rows == 2
    day_one = first.to_pandas()
    assert day_one["customer_id"].isna().tolist() == [False, False, True, True]
    assert day_one["entity"].tolist()[2:] == ["header-entity", "header-entity"]


def test_column_batches_are_written_as_their_frames_are(tmp_path, shipped_spec, raw_rows):
    """The request path hands over validated columns (no frame); the file is the one frames give,
    and a batch without an optional column gets nulls there."""
    validator = RequestValidator(shipped_spec)
    full = validator.validate(records(raw_rows.head(3)))
    partial = records(raw_rows.iloc[3:5])
    for inst in partial:
        del inst["customer_id"], inst["transaction_id"]
    without_keys = validator.validate(partial)
    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    tables = []
    for name, as_columns in (("frames", False), ("columns", True)):
        writer = InferenceLogWriter(f"file://{tmp_path / name}", shipped_spec, InferenceLogConfig(flush_interval_s=60))
        for frame in (full, without_keys, full.tail(1)):
            features = ColumnBatch({c: frame[c].array for c in frame.columns}, len(frame)) if as_columns else frame
            writer.put(ScoredBatch(features, np.full(len(frame), 0.25), CHAMPION, "7", "r", "header", False, at))
        writer.start()
        assert writer.flush()
        writer.close()
        tables.append(pq.read_table(next((tmp_path / name).glob("inference/transactions/date=*/part-*.parquet"))))
    from_frames, from_columns = tables
    assert from_columns.schema == from_frames.schema
    assert from_columns.num_rows == 6
    assert from_columns.equals(from_frames)
    assert from_columns.column("customer_id").to_pylist()[3:6] == [
        None,
        None,
        raw_rows["customer_id"].iloc[2].item(),
    ]


def test_queued_batches_are_converted_at_once_and_written_at_the_flush(tmp_path, shipped_spec, raw_rows):
    """The writer turns what is queued into Arrow columns every CONVERT_INTERVAL_S (the request
    objects go at once), and still writes one file per flush."""
    writer = InferenceLogWriter(f"file://{tmp_path}", shipped_spec, InferenceLogConfig(flush_interval_s=60))
    validator = RequestValidator(shipped_spec)
    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    writer.start()
    try:
        for i in range(40):
            batch = validator.validate_columns(records(raw_rows.iloc[i : i + 1 + i % 3]))
            writer.put(ScoredBatch(batch, np.full(len(batch), 0.5), CHAMPION, "7", f"r{i}", "e", False, at))
        deadline = time.monotonic() + 10
        while writer._queue and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not writer._queue  # converted...
        assert writer.files_written == 0  # ...not written: the flush interval is a minute
        assert writer.flush()
        assert writer.files_written == 1
        assert writer.rows_written == sum(1 + i % 3 for i in range(40))
    finally:
        writer.close()
    table = pq.read_table(next(tmp_path.glob("inference/transactions/date=2026-03-01/part-*.parquet")))
    assert table.column("request_id").to_pylist()[:4] == ["r0", "r1", "r1", "r2"]


def test_pii_columns_are_hashed_or_dropped_as_the_spec_says(tmp_path, shipped_spec, raw_rows, monkeypatch):
    """customer_id (the key) is hashed with the key, device dropped; other features stay as served."""
    monkeypatch.setenv(PII_KEY_ENV, "test-key")
    spec = load_spec(SPEC_PATH, overrides={"columns": {"customer_id": {"pii": True}, "device": {"pii": "drop"}}})
    frame = RequestValidator(spec).validate(records(raw_rows.head(3)))
    writer = InferenceLogWriter(f"file://{tmp_path}", spec, InferenceLogConfig(flush_interval_s=60))
    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    writer.put(ScoredBatch(frame, np.full(3, 0.5), CHAMPION, "7", "r", "header-entity", False, at))
    writer.start()
    assert writer.flush()
    writer.close()
    logged = pq.read_table(next(tmp_path.glob("inference/transactions/date=*/part-*.parquet")))
    assert "device" not in logged.column_names
    assert logged.schema == writer.schema
    served = [str(v) for v in raw_rows["customer_id"].head(3)]
    expected = [hash_value(v, b"test-key") for v in served]
    assert logged.column("customer_id").to_pylist() == expected
    assert logged.column("entity").to_pylist() == expected  # the key's value would leak through entity
    assert not set(served) & {str(v) for v in logged.to_pandas().to_numpy().ravel()}
    assert logged.column("amount").to_pylist() == raw_rows["amount"].head(3).tolist()


def test_a_spec_that_hashes_without_a_key_is_refused_at_start(tmp_path, raw_rows, monkeypatch):
    monkeypatch.delenv(PII_KEY_ENV, raising=False)
    spec = load_spec(SPEC_PATH, overrides={"columns": {"customer_id": {"pii": "hash"}}})
    with pytest.raises(PiiKeyMissing, match=PII_KEY_ENV):
        InferenceLogWriter(f"file://{tmp_path}", spec, InferenceLogConfig())
