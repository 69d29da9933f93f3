"""Suites built from specs: versioned files that match their specs, with every kind of check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from tests.unit.helpers import DAY, inbox_dir, local, spec_dict, write_spec
from tradewind.config import REPO_ROOT
from tradewind.data.checks import SAMPLE_SIZE
from tradewind.data.ingest import ingest_partition
from tradewind.data.spec import DatasetSpec, load_spec, parse_spec
from tradewind.validation.runner import ValidationOutcome, validate_partition
from tradewind.validation.suite import (
    EARLIEST,
    EXPECTATIONS_DIR,
    EXPECTATIONS_ENV,
    LATEST,
    build_suite_dict,
    load_suite_dict,
    suite_json,
    suite_path,
    write_suite,
)

pytestmark = pytest.mark.unit


def _by_column(suite: dict[str, Any]) -> dict[str | None, dict[str, list[dict[str, Any]]]]:
    index: dict[str | None, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for e in suite["expectations"]:
        index[e["kwargs"].get("column")][e["type"]].append(e["kwargs"])
    return index


def test_committed_suite_matches_the_spec(shipped_spec):
    path = suite_path(shipped_spec)
    assert path == EXPECTATIONS_DIR / "transactions.v1.json"
    assert path.exists(), f"{path} is missing: run `make suites` and commit it"
    assert path.read_text(encoding="utf-8") == suite_json(shipped_spec), (
        f"{path.name} no longer matches include/config/datasets/transactions.yaml: run `make suites` and commit it"
    )


def test_runner_uses_the_committed_suite(shipped_spec):
    suite, source = load_suite_dict(shipped_spec)
    assert source == "transactions.v1.json"
    assert suite == json.loads(suite_json(shipped_spec))


def test_suite_has_every_kind_of_check(shipped_spec):
    suite = build_suite_dict(shipped_spec)
    assert suite["name"] == "transactions.v1"
    assert suite["meta"]["schema_version"] == 1
    index = _by_column(suite)
    table = index[None]
    assert table["expect_table_columns_to_match_set"] == [
        {"column_set": list(shipped_spec.columns), "exact_match": True}
    ]
    assert table["expect_table_row_count_to_be_between"] == [{"min_value": 1000, "max_value": 10000000}]
    for name in shipped_spec.columns:
        checks = index[name]
        assert len(checks["expect_column_values_to_be_in_type_list"]) == 1, name
        assert checks["expect_column_values_to_not_be_null"] == [{"column": name}], name
    assert "float64" in index["amount"]["expect_column_values_to_be_in_type_list"][0]["type_list"]
    assert "int64" in index["customer_age_days"]["expect_column_values_to_be_in_type_list"][0]["type_list"]
    assert "float64" not in index["customer_age_days"]["expect_column_values_to_be_in_type_list"][0]["type_list"]
    assert "bool" in index["card_present"]["expect_column_values_to_be_in_type_list"][0]["type_list"]
    assert index["amount"]["expect_column_values_to_be_between"] == [
        {"column": "amount", "min_value": 0.0, "max_value": 50000.0}
    ]
    assert index["merchant_category"]["expect_column_values_to_be_in_set"] == [
        {"column": "merchant_category", "value_set": list(shipped_spec.columns["merchant_category"].categories)}
    ]
    assert index["country"]["expect_column_values_to_be_in_set"][0]["value_set"][0] == "US"
    assert index["transaction_id"]["expect_column_values_to_be_unique"] == [{"column": "transaction_id"}]
    assert index["is_fraud"]["expect_column_mean_to_be_between"] == [
        {"column": "is_fraud", "min_value": 0.003, "max_value": 0.08}
    ]
    assert index["event_time"]["expect_column_values_to_be_between"] == [
        {"column": "event_time", "min_value": {"$PARAMETER": EARLIEST}, "max_value": {"$PARAMETER": LATEST}}
    ]
    # Only columns with bounds get a range, only categoricals get a set, only the id is unique.
    assert "expect_column_values_to_be_between" not in index["device"]
    assert "expect_column_values_to_be_in_set" not in index["amount"]
    assert "expect_column_values_to_be_unique" not in index["customer_id"]


def test_every_expectation_says_why(shipped_spec):
    assert all(e["meta"]["notes"] for e in build_suite_dict(shipped_spec)["expectations"])


def test_nullable_column_gets_no_not_null_check():
    data = spec_dict()
    data["columns"]["distance_from_home_km"]["nullable"] = True
    index = _by_column(build_suite_dict(parse_spec(data)))
    assert "expect_column_values_to_not_be_null" not in index["distance_from_home_km"]
    assert "expect_column_values_to_be_between" in index["distance_from_home_km"]  # other checks stay
    assert "expect_column_values_to_not_be_null" in index["amount"]


def test_optional_checks_follow_the_spec():
    data = spec_dict()
    data["validation"]["unique_id"] = False
    del data["validation"]["label_rate"]
    types = {e["type"] for e in build_suite_dict(parse_spec(data))["expectations"]}
    assert "expect_column_values_to_be_unique" not in types
    assert "expect_column_mean_to_be_between" not in types


def test_editing_the_spec_changes_the_suite(shipped_spec):
    data = spec_dict()
    data["columns"]["device"]["categories"].append("smartwatch")
    assert suite_json(parse_spec(data)) != suite_json(shipped_spec)


def test_write_and_load_a_suite(shipped_spec, tmp_path):
    suite, source = load_suite_dict(shipped_spec, directory=tmp_path)
    assert source == "built from spec"  # a new data set works before its suite is versioned
    assert suite == build_suite_dict(shipped_spec)
    path = write_suite(shipped_spec, directory=tmp_path)
    assert path == tmp_path / "transactions.v1.json"
    assert load_suite_dict(shipped_spec, directory=tmp_path) == (suite, "transactions.v1.json")


def _site(tmp_path: Path) -> Path:
    """A config folder outside the checkout (as a deployment has), with no suites beside it yet."""
    config = tmp_path / "site" / "config"
    shutil.copytree(REPO_ROOT / "include" / "config", config)
    return config


def _build_suites(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRADEWIND_CONFIG_DIR", EXPECTATIONS_ENV)} | env
    return subprocess.run(
        [sys.executable, "-m", "tradewind", "build-suites"], capture_output=True, text=True, env=env, timeout=300
    )


def test_build_suites_writes_beside_the_config_it_read_not_into_the_checkout(tmp_path):
    config = _site(tmp_path)
    shipped = EXPECTATIONS_DIR / "transactions.v1.json"
    before = shipped.stat().st_mtime_ns
    done = _build_suites({"TRADEWIND_CONFIG_DIR": str(config)})
    assert done.returncode == 0, done.stderr[-2000:]
    written = tmp_path / "site" / "expectations" / "transactions.v1.json"
    assert str(written) in json.loads(done.stdout)["written"]
    assert written.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
    assert shipped.stat().st_mtime_ns == before


def test_build_suites_writes_where_the_override_says(tmp_path):
    config = _site(tmp_path)
    done = _build_suites({"TRADEWIND_CONFIG_DIR": str(config), EXPECTATIONS_ENV: str(tmp_path / "suites")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "suites" / "transactions.v1.json").exists()
    assert not (tmp_path / "site" / "expectations").exists()


def test_validation_loads_the_suite_beside_its_config(shipped_spec, tmp_path, monkeypatch):
    config = _site(tmp_path)
    monkeypatch.delenv(EXPECTATIONS_ENV, raising=False)
    monkeypatch.setattr("tradewind.config.CONFIG_DIR", config)
    assert load_suite_dict(shipped_spec)[1] == "built from spec"  # not the checkout's file
    reviewed = {**build_suite_dict(shipped_spec), "meta": {"reviewed_by": "the site"}}
    suite_path(shipped_spec).parent.mkdir(parents=True)
    suite_path(shipped_spec).write_text(json.dumps(reviewed), encoding="utf-8")
    assert suite_path(shipped_spec) == tmp_path / "site" / "expectations" / "transactions.v1.json"
    assert load_suite_dict(shipped_spec) == (reviewed, "transactions.v1.json")
    monkeypatch.setenv(EXPECTATIONS_ENV, str(tmp_path / "elsewhere"))
    assert suite_path(shipped_spec) == tmp_path / "elsewhere" / "transactions.v1.json"


# -- the label's checks per task -----------------------------------------------------------------


def _task_spec(tmp_path: Path, label: dict[str, Any], **keys: Any) -> DatasetSpec:
    """A small ``files`` (CSV) data set: an id, a time, one feature and the label ``grade``."""
    data = {
        "name": "grades",
        "schema_version": 1,
        "source": {"kind": "files", "options": {"uri": f"file://{tmp_path}/inbox/{{date}}/*.csv", "format": "csv"}},
        "id": "row_id",
        "label": "grade",
        "timestamp": "event_time",
        "columns": {
            "row_id": {"type": "integer", "role": "id"},
            "event_time": {"type": "timestamp", "role": "timestamp"},
            "score": {"type": "numeric"},
            "grade": {"role": "label", **label},
        },
        "validation": {"row_count": {"min": 1, "max": 100000}},
        **keys,
    }
    return load_spec(write_spec(tmp_path / "specs", data))


def _validate(spec: DatasetSpec, tmp_path: Path, labels: list[Any]) -> ValidationOutcome:
    """Deliver one day of rows with these labels as CSV, ingest it and validate it."""
    lines = ["row_id,event_time,score,grade"]
    lines += [f"{i},{DAY.isoformat()}T{i % 24:02d}:00:00,{i / 10},{label}" for i, label in enumerate(labels)]
    (inbox_dir(spec, DAY) / "day.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(spec, root, DAY)
    return validate_partition(spec, root, DAY)


@pytest.fixture
def own_suites(tmp_path, monkeypatch):
    """Suites of these test data sets are built from their specs (none is versioned)."""
    monkeypatch.setenv(EXPECTATIONS_ENV, str(tmp_path / "suites"))


def test_the_shipped_label_keeps_its_checks_and_adds_none(shipped_spec):
    # 0/1 bounded 0..1 by its column: the range is the value check; the rate is the label's mean.
    index = _by_column(build_suite_dict(shipped_spec))["is_fraud"]
    assert "expect_column_values_to_be_in_set" not in index
    assert index["expect_column_values_to_be_between"] == [{"column": "is_fraud", "min_value": 0.0, "max_value": 1.0}]
    assert index["expect_column_mean_to_be_between"] == [{"column": "is_fraud", "min_value": 0.003, "max_value": 0.08}]


def test_a_binary_label_is_checked_against_its_two_values(tmp_path):
    unbounded = _by_column(build_suite_dict(_task_spec(tmp_path, {"type": "integer"})))["grade"]
    assert unbounded["expect_column_values_to_be_in_set"] == [{"column": "grade", "value_set": [0, 1]}]
    flipped = _task_spec(tmp_path, {"type": "integer"}, positive_class=0)
    assert _by_column(build_suite_dict(flipped))["grade"]["expect_column_values_to_be_in_set"] == [
        {"column": "grade", "value_set": [1, 0]}
    ]
    # Booleans and two categories: their column's own checks (type, categories) already say so.
    boolean = _by_column(build_suite_dict(_task_spec(tmp_path, {"type": "boolean"})))["grade"]
    assert "expect_column_values_to_be_in_set" not in boolean
    yes_no = _task_spec(tmp_path, {"type": "categorical", "categories": ["No", "Yes"]}, positive_class="Yes")
    assert _by_column(build_suite_dict(yes_no))["grade"]["expect_column_values_to_be_in_set"] == [
        {"column": "grade", "value_set": ["No", "Yes"]}
    ]


def test_a_string_label_rate_is_the_share_of_its_positive_class(tmp_path):
    spec = _task_spec(
        tmp_path,
        {"type": "categorical", "categories": ["No", "Yes"]},
        positive_class="Yes",
        validation={"row_count": {"min": 1, "max": 100000}, "label_rate": {"min": 0.1, "max": 0.4}},
    )
    index = _by_column(build_suite_dict(spec))["grade"]
    assert "expect_column_mean_to_be_between" not in index  # a mean of strings fails on every batch
    assert index["expect_column_values_to_be_in_set"][-1] == {"column": "grade", "value_set": ["Yes"], "mostly": 0.1}
    assert index["expect_column_values_to_not_be_in_set"] == [{"column": "grade", "value_set": ["Yes"], "mostly": 0.6}]


@pytest.mark.usefixtures("own_suites")
@pytest.mark.parametrize(
    ("yes", "failed_note"),
    [(0.3, None), (0.8, "label rate: at most 0.4 of the labels are 'Yes'"), (0.0, "label rate: at least 0.1")],
    ids=["within", "too many positives", "no positives"],
)
def test_a_string_label_batch_passes_or_fails_on_its_positive_share(tmp_path, yes, failed_note):
    spec = _task_spec(
        tmp_path,
        {"type": "categorical", "categories": ["No", "Yes"]},
        positive_class="Yes",
        validation={"row_count": {"min": 1, "max": 100000}, "label_rate": {"min": 0.1, "max": 0.4}},
    )
    outcome = _validate(spec, tmp_path, ["Yes" if i < yes * 100 else "No" for i in range(100)])
    if failed_note is None:
        assert outcome.success, outcome.message()
    else:
        assert not outcome.success
        assert [f.column for f in outcome.failures] == ["grade"]
        assert failed_note in outcome.failures[0].notes


@pytest.mark.usefixtures("own_suites")
def test_a_multiclass_batch_with_an_unseen_class_is_quarantined(tmp_path):
    spec = _task_spec(tmp_path, {"type": "integer", "min": 0, "max": 99}, task="multiclass", classes=[1, 2, 3])
    assert _by_column(build_suite_dict(spec))["grade"]["expect_column_values_to_be_in_set"] == [
        {"column": "grade", "value_set": [1, 2, 3]}
    ]
    assert _validate(spec, tmp_path / "good", [1, 2, 3] * 20).success

    outcome = _validate(spec, tmp_path, [1, 2, 3] * 20 + [7, 7, 8])

    assert not outcome.success
    (failure,) = outcome.failures
    assert (failure.expectation, failure.column) == ("expect_column_values_to_be_in_set", "grade")
    assert failure.detail == "3 of 63 rows unexpected (4.76%)"
    assert failure.sample == [7, 8]
    assert "label values of task multiclass" in failure.line()
    assert outcome.quarantine_uri
    assert local(outcome.quarantine_uri).is_dir()


@pytest.mark.usefixtures("own_suites")
def test_many_unseen_classes_make_a_short_report(tmp_path):
    spec = _task_spec(tmp_path, {"type": "categorical", "categories": ["low", "mid", "high"]}, task="multiclass")
    unseen = [f"grade_{i}_{'x' * 300}" for i in range(50)]
    outcome = _validate(spec, tmp_path, ["low", "mid", "high"] * 10 + unseen)
    assert not outcome.success
    grade = [f for f in outcome.failures if f.column == "grade"]
    assert grade
    assert grade[0].detail.startswith("50 of 80 rows unexpected")
    assert len(grade[0].sample) <= SAMPLE_SIZE
    assert len(outcome.message()) < 4000  # one readable line per problem, not the 15,000 characters of values


def test_a_regression_label_is_checked_by_its_column_only(tmp_path):
    spec = _task_spec(tmp_path, {"type": "numeric", "min": 0.0, "max": 100.0}, task="regression")
    index = _by_column(build_suite_dict(spec))["grade"]
    assert index["expect_column_values_to_be_between"] == [{"column": "grade", "min_value": 0.0, "max_value": 100.0}]
    assert "float64" in index["expect_column_values_to_be_in_type_list"][0]["type_list"]
    assert "expect_column_values_to_be_in_set" not in index
    assert "expect_column_mean_to_be_between" not in index
