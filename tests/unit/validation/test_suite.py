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

from tests.unit.helpers import spec_dict
from tradewind.config import REPO_ROOT
from tradewind.data.spec import parse_spec
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
