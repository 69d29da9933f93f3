"""Retention: each zone keeps what it holds for the profile's days; validated data and registered models stay."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path

import pytest
from upath import UPath

from tests.unit.helpers import DAY, inbox_dir
from tradewind.config import ConfigError
from tradewind.data.ingest import RAW, ingest_partition, partition_path
from tradewind.data.retention import ZONES, sweep_zone
from tradewind.settings import RETENTION_DEFAULTS, load_settings
from tradewind.stages.outcome import StageInputError
from tradewind.stages.retention import registry_references, retention
from tradewind.storage import read_manifest, uri
from tradewind.validation.runner import REPORT_LOCATION, REPORTS, validate_partition

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
DS = "transactions"


def _write(path: Path, days_old: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = (NOW - dt.timedelta(days=days_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _day(days_ago: int) -> str:
    return (NOW.date() - dt.timedelta(days=days_ago)).isoformat()


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    _write(root / f"inference/{DS}/date={_day(40)}/part-a.parquet", 0, 100)  # written today, served 40 days ago
    _write(root / f"inference/{DS}/date={_day(3)}/part-b.parquet", 3)
    _write(root / f"reports/drift/{DS}/v3/old/summary.json", 120, 50)
    _write(root / f"reports/drift/{DS}/v3/old/report.html", 100, 50)
    _write(root / f"reports/drift/{DS}/v4/new/summary.json", 5)
    _write(root / f"reports/validation/{DS}/date={_day(200)}/r-old/validation_result.json", 95)
    _write(root / f"reports/validation/{DS}/date={_day(200)}/r-recent/validation_result.json", 89)  # a re-check
    _write(root / f"quarantine/{DS}/date={_day(31)}/r1/part-0.csv", 31)
    _write(root / f"quarantine/{DS}/date={_day(2)}/r2/part-0.csv", 2)
    _write(root / f"models/{DS}/run-old/checkpoints/xgboost-checkpoint.ubj", 20, 1000)
    _write(root / f"models/{DS}/run-old/model.json", 20)
    _write(root / f"models/{DS}/run-registered/checkpoints/torch-checkpoint.pt", 60)
    _write(root / f"models/{DS}/run-new/checkpoints/torch-checkpoint.pt", 1)
    _write(root / f"validated/{DS}/date={_day(900)}/part-0.parquet", 900)
    _write(root / f"raw/{DS}/date={_day(900)}/part-0.parquet", 900)
    return root


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("zone", "gone"),
    [
        ("inference_log", {f"inference/{DS}/date={_day(40)}/part-a.parquet"}),
        ("drift_reports", {f"reports/drift/{DS}/v3/old/summary.json", f"reports/drift/{DS}/v3/old/report.html"}),
        ("validation_reports", {f"reports/validation/{DS}/date={_day(200)}/r-old/validation_result.json"}),
        ("quarantine", {f"quarantine/{DS}/date={_day(31)}/r1/part-0.csv"}),
    ],
)
def test_a_zone_removes_only_what_is_older_than_its_days_and_says_so(lake, zone, gone):
    before = _tree(lake)
    size = sum((lake / g).stat().st_size for g in gone)
    outcome = retention(zone, dataset=DS, root=f"file://{lake}", log_root=f"file://{lake}", now=NOW)
    assert _tree(lake) == before - gone
    assert outcome["days"] == RETENTION_DEFAULTS[zone]
    removed = outcome["sweeps"][0]["removed"]
    assert len(removed) == 1
    assert removed[0]["path"].startswith(f"file://{lake}/{ZONES[zone].parts[0]}/")
    assert removed[0]["age_days"] >= RETENTION_DEFAULTS[zone]
    assert outcome["removed_bytes"] == removed[0]["bytes"] == size
    assert outcome["removed_count"] == 1


def test_checkpoints_go_but_model_folders_and_registered_artifacts_stay(lake, client):
    name = f"retention-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    client.create_model_version(name, source=f"file://{lake}/models/{DS}/run-registered/checkpoints")
    assert registry_references(client, name) == [f"file://{lake}/models/{DS}/run-registered/checkpoints"]
    sweep = sweep_zone("checkpoints", f"file://{lake}", DS, 14, now=NOW, protected=registry_references(client, name))
    assert [r.path for r in sweep.removed] == [f"file://{lake}/models/{DS}/run-old/checkpoints"]
    assert sweep.protected == [f"file://{lake}/models/{DS}/run-registered/checkpoints"]
    assert (lake / f"models/{DS}/run-old/model.json").exists()  # the model folder itself stays
    assert (lake / f"models/{DS}/run-registered/checkpoints/torch-checkpoint.pt").exists()
    assert (lake / f"models/{DS}/run-new/checkpoints/torch-checkpoint.pt").exists()


def test_validated_and_raw_partitions_are_never_removed(lake):
    for zone in RETENTION_DEFAULTS:
        if zone != "checkpoints":
            retention(zone, dataset=DS, root=f"file://{lake}", log_root=f"file://{lake}", now=NOW)
    assert (lake / f"validated/{DS}/date={_day(900)}/part-0.parquet").exists()
    assert (lake / f"raw/{DS}/date={_day(900)}/part-0.parquet").exists()


def test_a_sweep_that_would_reach_into_validated_is_refused(tmp_path):
    lake = tmp_path / "lake"
    _write(lake / f"validated/quarantine/{DS}/date=x/r1/part-0.parquet", 400)  # a zone root pointed at validated/
    with pytest.raises(RuntimeError, match="validated zone"):
        sweep_zone("quarantine", f"file://{lake}/validated", DS, 30, now=NOW, lake_root=f"file://{lake}")
    assert (lake / f"validated/quarantine/{DS}/date=x/r1/part-0.parquet").exists()


def test_null_keeps_forever_and_an_unknown_zone_is_bad_input(lake):
    assert sweep_zone("quarantine", f"file://{lake}", DS, None, now=NOW).removed == []
    with pytest.raises(StageInputError, match="not a retention zone"):
        retention("everything", root=f"file://{lake}")


def _profile(tmp_path: Path, retention_section: object) -> Path:
    config = tmp_path / "config"
    (config / "profiles").mkdir(parents=True)
    (config / "profiles" / "p.yaml").write_text(
        json.dumps({"storage": {"root": "file:///tmp/lake"}, "retention": retention_section}), encoding="utf-8"
    )
    return config


def test_the_profile_sets_each_zone_and_null_means_forever(tmp_path):
    settings = load_settings("p", _profile(tmp_path, {"inference_log": 7, "checkpoints": None}))
    assert settings.retention.days("inference_log") == 7
    assert settings.retention.days("checkpoints") is None
    assert settings.retention.days("quarantine") == RETENTION_DEFAULTS["quarantine"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"inference_log": 0}, r"retention\.inference_log: must be a whole number of days"),
        ({"inference_log": "30d"}, r"retention\.inference_log: must be a whole number of days"),
        ({"logs": 3}, r"retention: unknown key\(s\) logs"),
    ],
)
def test_a_bad_retention_names_the_key(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        load_settings("p", _profile(tmp_path, section))


# -- what a removal leaves behind --------------------------------------------------------------------


def test_a_swept_quarantine_leaves_no_empty_date_folder_and_no_pointer_to_it(files_spec, tmp_path):
    spec = files_spec("csv")
    header = ",".join(spec.columns)
    (inbox_dir(spec, DAY) / "a.csv").write_bytes(f"{header}\n1,0\x00garbage\n".encode())
    lake = tmp_path / "lake"
    ingest_partition(spec, f"file://{lake}", DAY)
    outcome = validate_partition(spec, f"file://{lake}", DAY)
    assert outcome.quarantine_uri is not None
    date = f"date={DAY}"
    pointer = lake / REPORTS / spec.name / date / outcome.result_id / REPORT_LOCATION
    assert pointer.exists()

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    sweep = sweep_zone("quarantine", f"file://{lake}", spec.name, 30, now=later)

    assert [r.path for r in sweep.removed] == [outcome.quarantine_uri]
    assert not (lake / "quarantine" / spec.name / date).exists()
    assert (lake / "quarantine" / spec.name).is_dir()  # the data set's folder stays
    assert sweep.pointers == [f"file://{pointer}"]
    assert not (lake / REPORTS / spec.name / date).exists()
    assert sweep.folders == [
        f"file://{lake}/quarantine/{spec.name}/{date}",
        f"file://{pointer.parent}",
        f"file://{lake / REPORTS / spec.name / date}",
    ]
    assert read_manifest(partition_path(f"file://{lake}", RAW, spec.name, DAY)) is not None  # raw stays


def _pointer(lake: Path, date: str, result_id: str, target: str) -> Path:
    path = lake / f"reports/validation/{DS}/{date}/{result_id}/report_location.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"result_id": result_id, "success": False, "quarantine_uri": target}))
    return path


def test_a_date_folder_still_holding_a_quarantine_and_other_pointers_stay(lake):
    date = f"date={_day(31)}"
    _write(lake / f"quarantine/{DS}/{date}/r-recent/part-0.csv", 2)
    mine = _pointer(lake, date, "r1", f"file:///elsewhere/lake/quarantine/{DS}/{date}/r1")  # the lake moved
    theirs = _pointer(lake, date, "r-recent", f"file://{lake}/quarantine/{DS}/{date}/r-recent")
    other = _pointer(lake, date, "r9", f"file://{lake}/quarantine/{DS}/{date}/r9")
    outcome = retention("quarantine", dataset=DS, root=f"file://{lake}", now=NOW)
    assert not (lake / f"quarantine/{DS}/{date}/r1").exists()
    assert (lake / f"quarantine/{DS}/{date}/r-recent/part-0.csv").exists()
    assert not mine.exists()
    assert not mine.parent.exists()
    assert theirs.exists()
    assert other.exists()
    assert (outcome["pointers_removed"], outcome["folders_removed"]) == (1, 1)


def test_on_an_object_store_there_is_no_folder_to_remove(tmp_path):
    root = f"memory://{uuid.uuid4().hex}/lake"
    base = UPath(root)
    date = f"date={_day(40)}"
    (base / f"quarantine/{DS}/{date}/r1/part-0.csv").write_bytes(b"x")
    target = f"memory://{base.path}/quarantine/{DS}/{date}/r1"
    pointer = base / f"reports/validation/{DS}/{date}/r1/report_location.json"
    pointer.write_text(json.dumps({"quarantine_uri": target}))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    sweep = sweep_zone("quarantine", root, DS, 30, now=later)
    assert len(sweep.removed) == 1
    assert sweep.folders == []
    assert not pointer.exists()
    assert sweep.pointers == [uri(pointer)]
