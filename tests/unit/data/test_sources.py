"""A files source reads only under the allowed roots; anything else is refused before a byte is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.helpers import DAY, inbox_dir
from tradewind.data.ingest import RAW, ingest_partition, partition_path
from tradewind.data.sources import SourceRefused, check_location, default_roots, static_dir
from tradewind.storage import read_manifest

pytestmark = pytest.mark.unit

SECRET = b"eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LWp3dC1rZXk.top-secret-signature\n"


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A secret file outside every allowed root (as Airflow's JWT secret is on a worker)."""
    path = tmp_path / "airflow" / "jwt_secret"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def _assert_refused_and_nothing_landed(err: pytest.ExceptionInfo[SourceRefused], lake: Path) -> None:
    message = str(err.value)
    assert "allowed roots" in message
    assert "refused" in message
    assert "top-secret" not in message
    assert "eyJ" not in message
    assert _tree(lake) == []  # no raw, quarantine or report file, not even an empty folder


@pytest.mark.parametrize(
    "make_source",
    [
        pytest.param(lambda secret, inbox: f"file://{secret}", id="absolute-path"),
        pytest.param(lambda secret, inbox: str(secret), id="plain-path"),
        pytest.param(lambda secret, inbox: f"file://{inbox}/../../../airflow/jwt_secret", id="dot-dot"),
        pytest.param(lambda secret, inbox: f"file://{secret.parent}/*", id="glob-elsewhere"),
    ],
)
def test_a_source_outside_the_allowed_roots_is_refused_and_nothing_is_copied(files_spec, tmp_path, secret, make_source):
    spec = files_spec("csv")
    inbox = inbox_dir(spec, DAY)
    lake = tmp_path / "lake"
    with pytest.raises(SourceRefused) as err:
        ingest_partition(spec, f"file://{lake}", DAY, source_uri=make_source(secret, inbox))
    _assert_refused_and_nothing_landed(err, lake)
    assert str(inbox.parent) in str(err.value)  # the message names the allowed roots


def test_a_symlink_inside_an_allowed_folder_pointing_outside_is_refused(files_spec, tmp_path, secret):
    spec = files_spec("csv")
    inbox = inbox_dir(spec, DAY)
    (inbox / "good.csv").write_bytes(b"x\n1\n")
    os.symlink(secret, inbox / "zz.csv")  # matched by the spec's own *.csv
    lake = tmp_path / "lake"
    with pytest.raises(SourceRefused, match="source file") as err:
        ingest_partition(spec, f"file://{lake}", DAY)
    _assert_refused_and_nothing_landed(err, lake)


def test_a_symlinked_folder_is_judged_by_where_it_points(files_spec, tmp_path, secret):
    spec = files_spec("csv")
    inbox = inbox_dir(spec, DAY)
    os.symlink(secret.parent, inbox / "link")
    lake = tmp_path / "lake"
    with pytest.raises(SourceRefused) as err:
        ingest_partition(spec, f"file://{lake}", DAY, source_uri=f"file://{inbox}/link/jwt_secret")
    _assert_refused_and_nothing_landed(err, lake)


def test_sources_under_the_default_roots_land(files_spec, tmp_path):
    spec = files_spec("csv")
    lake = tmp_path / "lake"
    landing = lake / "landing" / spec.name / DAY.isoformat()
    landing.mkdir(parents=True)
    (landing / "drop.csv").write_bytes(b"x\n1\n2\n")
    (inbox_dir(spec, DAY) / "a.csv").write_bytes(b"x\n1\n")
    from_landing = ingest_partition(spec, f"file://{lake}", DAY, source_uri=f"file://{landing}/*.csv")
    assert from_landing["row_count"] == 2
    from_spec = ingest_partition(spec, f"file://{lake}", DAY)
    assert from_spec["row_count"] == 1
    assert read_manifest(partition_path(f"file://{lake}", RAW, spec.name, DAY)).row_count == 1


def test_an_extra_allowed_root_admits_its_files(files_spec, tmp_path):
    spec = files_spec("csv")
    other = tmp_path / "shared" / DAY.isoformat()
    other.mkdir(parents=True)
    (other / "one.csv").write_bytes(b"x\n1\n")
    source = f"file://{tmp_path}/shared/{{date}}/one.csv"
    with pytest.raises(SourceRefused):
        ingest_partition(spec, f"file://{tmp_path}/lake", DAY, source_uri=source)
    roots = [*default_roots(spec, f"file://{tmp_path}/lake"), f"file://{tmp_path}/shared"]
    lineage = ingest_partition(spec, f"file://{tmp_path}/lake", DAY, source_uri=source, allowed_roots=roots)
    assert lineage["row_count"] == 1


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("s3://lake/landing/tx/2026-01-05/a.parquet", True),
        ("s3://lake/landing/tx/../../secrets/key", False),
        ("s3://lake/landing/txx/a.parquet", False),  # a prefix of the name is not the folder
        ("s3://other-bucket/landing/tx/a.parquet", False),
        ("gs://lake/landing/tx/a.parquet", False),  # same bucket name on another store
        ("s3a://lake/landing/tx/a.parquet", True),
        ("s3://lake/landing/tx/*/*.parquet", True),
    ],
)
def test_object_store_sources_match_protocol_bucket_and_prefix(source, allowed):
    roots = ["s3://lake/landing/tx"]
    if allowed:
        check_location(source, roots)
    else:
        with pytest.raises(SourceRefused, match=r"Allowed roots: s3://lake/landing/tx"):
            check_location(source, roots)


def test_no_roots_refuses_everything():
    with pytest.raises(SourceRefused, match="no allowed roots"):
        check_location("file:///tmp/x.csv", [])


@pytest.mark.parametrize(
    ("pattern", "folder"),
    [
        ("file:///data/in/{date}/*.csv", "file:///data/in/"),
        ("file:///data/in/tx-{date}.csv", "file:///data/in"),
        ("s3://bucket/in/{date}/part-*.parquet", "s3://bucket/in/"),
    ],
)
def test_the_spec_uri_folder_is_the_part_before_the_date(pattern, folder):
    assert static_dir(pattern) == folder


def test_the_cli_exits_2_naming_the_rule_and_copies_nothing(files_spec, tmp_path, secret):
    spec = files_spec("csv")
    specs = tmp_path / "specs"
    config = tmp_path / "config"
    (config / "profiles").mkdir(parents=True)
    (config / "datasets").symlink_to(specs)
    lake = tmp_path / "lake"
    (config / "profiles" / "t.yaml").write_text(
        json.dumps({"storage": {"root": f"file://{lake}"}, "datasets": [spec.name]}), encoding="utf-8"
    )
    code = (
        "import sys; from pathlib import Path; import tradewind.settings as s; "
        f"s.get_settings = lambda: s.load_settings('t', Path({str(config)!r})); "
        "from tradewind.stages.cli import app; app()"
    )
    args = ["ingest", "--dataset", spec.name, "--date", DAY.isoformat(), "--source", str(secret)]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "refused" in done.stderr
    assert "allowed roots" in done.stderr
    assert "top-secret" not in done.stderr + done.stdout
    assert _tree(lake) == []
