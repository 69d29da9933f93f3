"""Dataset specs: the shipped spec loads, and every mistake in a spec is reported clearly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.helpers import SPEC_PATH, spec_dict, write_spec
from tradewind.data.spec import ColumnType, SpecError, load_spec, parse_spec

pytestmark = pytest.mark.unit


def test_shipped_spec_loads_with_its_roles(shipped_spec):
    assert shipped_spec.name == "transactions"
    assert shipped_spec.schema_version == 1
    assert (shipped_spec.id, shipped_spec.label, shipped_spec.timestamp) == ("transaction_id", "is_fraud", "event_time")
    assert shipped_spec.source.kind == "synthetic"
    assert shipped_spec.source.synthetic.rows_per_day == 20000
    assert shipped_spec.columns["merchant_category"].categories[0] == "grocery"


def test_feature_columns_leave_out_id_key_label_and_timestamp(shipped_spec):
    assert shipped_spec.feature_columns == [
        "amount",
        "merchant_category",
        "country",
        "device",
        "card_present",
        "customer_age_days",
        "customer_txn_count_30d",
        "customer_avg_amount_30d",
        "distance_from_home_km",
    ]
    assert shipped_spec.columns_of(ColumnType.categorical) == ["merchant_category", "country", "device"]


def test_fingerprint_is_stable_and_tracks_content(shipped_spec):
    again = load_spec(SPEC_PATH)
    assert again.fingerprint == shipped_spec.fingerprint
    assert len(shipped_spec.fingerprint) == 12
    assert int(shipped_spec.fingerprint, 16) >= 0  # hex
    edited = load_spec(SPEC_PATH, overrides={"validation": {"label_rate": {"max": 0.06}}})
    assert edited.fingerprint != shipped_spec.fingerprint


def test_overrides_are_deep_merged(shipped_spec):
    spec = load_spec(SPEC_PATH, overrides={"source": {"options": {"rows_per_day": 123}}})
    assert spec.source.synthetic.rows_per_day == 123
    assert spec.source.synthetic.seed == shipped_spec.source.synthetic.seed  # sibling keys kept


def _set(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


def _files_source(uri: str) -> Callable[[dict[str, Any]], None]:
    return _set("source", value={"kind": "files", "options": {"uri": uri, "format": "csv"}})


# (case id, edit of the spec data, fragments the error message must contain)
BAD_SPECS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    (
        "unknown column type",
        _set("columns", "amount", "type", value="money"),
        ["columns.amount.type", "'money'", "'numeric'"],
    ),
    (
        "categorical without categories",
        _drop("columns", "merchant_category", "categories"),
        ["columns.merchant_category", "needs a non-empty 'categories' list"],
    ),
    (
        "categories on a numeric column",
        _set("columns", "amount", "categories", value=["a"]),
        ["columns.amount", "'categories' is only allowed on categorical columns"],
    ),
    (
        "min greater than max",
        _set("columns", "amount", "max", value=-1.0),
        ["columns.amount", "'min' (0.0) is greater than 'max' (-1.0)"],
    ),
    (
        "row_count bounds reversed",
        _set("validation", "row_count", "min", value=10**9),
        ["validation.row_count", "is greater than 'max'"],
    ),
    (
        "label names a missing column",
        _set("label", value="fraud_flag"),
        ["'label' names column 'fraud_flag'", "not under 'columns'"],
    ),
    (
        "timestamp column of another type",
        _set("columns", "event_time", "type", value="string"),
        ["'timestamp' column 'event_time'", "must have type timestamp"],
    ),
    (
        "label of a numeric type",
        _set("columns", "is_fraud", "type", value="numeric"),
        ["'label' column 'is_fraud'", "integer (0/1) or boolean"],
    ),
    ("unknown top-level key", _set("colour", value="blue"), ["colour", "Extra inputs are not permitted"]),
    (
        "unknown column key",
        _set("columns", "amount", "unit", value="EUR"),
        ["columns.amount.unit", "Extra inputs are not permitted"],
    ),
    ("required key missing", _drop("id"), ["id: Field required"]),
    ("files uri without {date}", _files_source("file:///data/in/*.csv"), ["source.options", "{date} placeholder"]),
    (
        "files uri missing",
        _set("source", value={"kind": "files", "options": {"format": "csv"}}),
        ["source.options.uri", "Field required"],
    ),
    (
        "rows_per_day zero",
        _set("source", "options", "rows_per_day", value=0),
        ["source.options.rows_per_day", "greater than 0", "(got 0)"],
    ),
    (
        "rows_per_day negative",
        _set("source", "options", "rows_per_day", value=-5),
        ["source.options.rows_per_day", "greater than 0"],
    ),
    ("unknown source kind", _set("source", "kind", value="kafka"), ["source.kind", "'kafka'"]),
    ("bad dataset name", _set("name", value="Transactions!"), ["name", "should match pattern"]),
]


@pytest.mark.parametrize(("edit", "fragments"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_error_names_file_key_and_problem(tmp_path, edit, fragments):
    data = spec_dict()
    edit(data)
    path = write_spec(tmp_path, data, name="transactions")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_name_must_match_file_name(tmp_path):
    path = write_spec(tmp_path, spec_dict(), name="payments")
    with pytest.raises(SpecError, match=r"name: 'transactions' must match the file name 'payments'") as err:
        load_spec(path)
    assert str(path) in str(err.value)


def test_invalid_yaml_is_a_spec_error(tmp_path):
    path = tmp_path / "transactions.yaml"
    path.write_text("name: transactions\ncolumns: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML") as err:
        load_spec(path)
    assert str(err.value).startswith(str(path))


def test_missing_file_is_a_spec_error(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecError, match="dataset spec file not found") as err:
        load_spec(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("data", [["a", "list"], "text", None])
def test_a_spec_must_be_a_mapping(data):
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec(data, origin="given.yaml")  # type: ignore[arg-type]


def test_every_mistake_is_reported_at_once(tmp_path):
    data = spec_dict()
    data["columns"]["amount"]["type"] = "money"
    data["colour"] = "blue"
    data["source"]["options"]["rows_per_day"] = 0
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, data))
    message = str(err.value)
    for fragment in ("columns.amount.type", "colour", "source.options.rows_per_day"):
        assert fragment in message


def test_spec_error_is_a_value_error(tmp_path: Path):
    with pytest.raises(ValueError, match="not found"):
        load_spec(tmp_path / "x.yaml")


def test_the_spec_error_is_the_config_error():
    from tradewind.config import ConfigError

    assert SpecError is ConfigError


def test_the_feature_types_follow_the_spec_order(tmp_path: Path):
    spec = load_spec(write_spec(tmp_path, spec_dict()))
    assert list(spec.feature_types) == spec.feature_columns
    assert spec.feature_types["amount"] == "numeric"
    assert spec.feature_types["merchant_category"] == "categorical"


def test_the_dataset_spec_imports_no_monitoring_code():
    import subprocess
    import sys

    code = "import sys, tradewind.data.spec; print(*(m for m in sys.modules if m.startswith('tradewind.')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert set(proc.stdout.split()) == {
        "tradewind.config",
        "tradewind.data",
        "tradewind.data.drift_spec",
        "tradewind.data.spec",
    }
