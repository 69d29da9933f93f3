"""The same ingest and validation on ``s3://`` through Airflow's ObjectStoragePath and a connection.

An S3-compatible server (moto) runs on loopback; the lake root comes from ``DataLakeHook`` with an
``AIRFLOW_CONN_*`` connection, exactly as the cloud profiles configure it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BUCKET = "tradewind-lake"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def s3(s3_endpoint: str):
    import boto3

    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def lake_root(s3, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    conn = {
        "conn_type": "aws",
        "login": "test",
        "password": "test",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    from tradewind_airflow.hooks.lake import DataLakeHook

    return DataLakeHook(lake_conn_id="lake_s3", root_uri=f"s3://{BUCKET}/lake").root


def _keys(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_good_day_lands_and_validates_on_s3(lake_root, s3) -> None:
    from tradewind.data.ingest import ingest_partition
    from tradewind.settings import load_settings
    from tradewind.validation.runner import validate_partition

    spec = load_settings("demo").spec("transactions")
    lineage = ingest_partition(spec, lake_root, "2026-03-02")
    assert lineage["partition_uri"] == f"s3://{BUCKET}/lake/raw/transactions/date=2026-03-02"
    raw = _keys(s3, "lake/raw/transactions/date=2026-03-02/")
    assert len(raw) == 2  # one part file and the manifest
    assert any(k.endswith("_manifest.json") for k in raw)

    again = ingest_partition(spec, lake_root, "2026-03-02")  # idempotent: replaced, not doubled
    assert again["content_hash"] == lineage["content_hash"]
    assert len(_keys(s3, "lake/raw/transactions/date=2026-03-02/")) == 2

    outcome = validate_partition(spec, lake_root, "2026-03-02", raw_lineage=lineage)
    assert outcome.success, outcome.message()
    assert outcome.validated_uri == f"s3://{BUCKET}/lake/validated/transactions/date=2026-03-02"
    assert _keys(s3, "lake/validated/transactions/date=2026-03-02/")


def test_bad_day_is_quarantined_on_s3(lake_root, s3) -> None:
    from tradewind.data.ingest import ingest_partition
    from tradewind.settings import load_settings
    from tradewind.validation.runner import validate_partition

    spec = load_settings("demo").spec("transactions")
    lineage = ingest_partition(spec, lake_root, "2026-03-03", corruptions=["negative_amounts"])
    outcome = validate_partition(spec, lake_root, "2026-03-03", raw_lineage=lineage)
    assert not outcome.success
    assert "on 'amount'" in outcome.message()
    quarantined = _keys(s3, "lake/quarantine/transactions/date=2026-03-03/")
    names = {k.rsplit("/", 1)[-1] for k in quarantined}
    assert {"validation_result.json", "data_docs.html", "_manifest.json"} <= names
    assert any(n.startswith("part-") for n in names)
    assert _keys(s3, "lake/raw/transactions/date=2026-03-03/")
    assert not _keys(s3, "lake/validated/transactions/date=2026-03-03/")
