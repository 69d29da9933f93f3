"""Dataset specs: the shipped spec loads, and every mistake in a spec is reported clearly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.helpers import SPEC_PATH, spec_dict, write_spec
from tradewind.data.spec import SPEC_VERSION, ColumnType, SpecError, load_spec, parse_spec, require_binary_task

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
        ["task: task binary needs a label of classes", "'is_fraud' is numeric", "set task: regression"],
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


# -- the task and its label ----------------------------------------------------------------------

# The shipped spec's fingerprint before the task keys (spec_version, positive_class, classes) existed:
# models and suites recorded with it must keep matching.
SHIPPED_FINGERPRINT = "fe8574934a51"
NO_RATE = {"row_count": {"min": 1000, "max": 10000000}}


def _label(column: dict[str, Any], validation: dict[str, Any] | None = None, **keys: Any) -> dict[str, Any]:
    """The shipped spec with ``is_fraud`` replaced by ``column`` (a label) and ``keys`` set at the top."""
    data = spec_dict()
    data["columns"]["is_fraud"] = {"nullable": False, "role": "label", **column}
    if validation is not None:
        data["validation"] = validation
    data.update(keys)
    return data


YES_NO = {"type": "categorical", "categories": ["No", "Yes"]}
GRADES = {"type": "categorical", "categories": ["low", "mid", "high"]}
STARS = {"type": "integer", "min": 1, "max": 5}
AMOUNT = {"type": "numeric", "min": 0.0}

# (case id, spec data, task, label values (negative first for binary), positive class)
ACCEPTED: list[tuple[str, dict[str, Any], str, Any, Any]] = [
    ("0/1 integers, no task (today's specs)", spec_dict(), "binary", (0, 1), 1),
    (
        "0/1 integers, positive 0",
        _label({"type": "integer", "min": 0, "max": 1}, positive_class=0),
        "binary",
        (1, 0),
        0,
    ),
    ("0/1 integers without bounds", _label({"type": "integer"}), "binary", (0, 1), 1),
    ("booleans", _label({"type": "boolean"}), "binary", (False, True), True),
    ("booleans, positive false", _label({"type": "boolean"}, positive_class=False), "binary", (True, False), False),
    ("strings", _label(YES_NO, positive_class="Yes"), "binary", ("No", "Yes"), "Yes"),
    ("strings, the first positive", _label(YES_NO, positive_class="No"), "binary", ("Yes", "No"), "No"),
    ("categories as classes", _label(GRADES, NO_RATE, task="multiclass"), "multiclass", ("low", "mid", "high"), None),
    (
        "classes reordering the categories",
        _label(GRADES, NO_RATE, task="multiclass", classes=["high", "mid", "low"]),
        "multiclass",
        ("high", "mid", "low"),
        None,
    ),
    (
        "integer classes",
        _label(STARS, NO_RATE, task="multiclass", classes=[1, 2, 3, 4, 5]),
        "multiclass",
        (1, 2, 3, 4, 5),
        None,
    ),
    ("numeric target", _label(AMOUNT, NO_RATE, task="regression"), "regression", None, None),
    ("integer target", _label(STARS, NO_RATE, task="regression"), "regression", None, None),
]


@pytest.mark.parametrize(
    ("data", "task", "values", "positive"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_every_task_and_label_form_loads(tmp_path, data, task, values, positive):
    spec = load_spec(write_spec(tmp_path, data))
    assert spec.task == task
    assert spec.label_values == values
    assert spec.positive_label == positive
    if values is not None:
        assert [type(v) for v in spec.label_values] == [type(v) for v in values]  # 1 is not True
    # What a model folder stores (the dumped spec) loads back as the same spec.
    again = parse_spec(spec.model_dump(mode="json"))
    assert again == spec
    assert again.fingerprint == spec.fingerprint


def test_todays_specs_load_unchanged_with_their_fingerprint(shipped_spec):
    assert shipped_spec.fingerprint == SHIPPED_FINGERPRINT
    assert (shipped_spec.task, shipped_spec.spec_version, shipped_spec.positive_label) == ("binary", 1, 1)
    dumped = shipped_spec.model_dump(mode="json")
    assert not {"spec_version", "positive_class", "classes"} & set(dumped)


def test_writing_out_the_defaults_keeps_the_fingerprint():
    explicit = parse_spec({**spec_dict(), "spec_version": 1, "task": "binary", "positive_class": 1})
    assert explicit.fingerprint == SHIPPED_FINGERPRINT
    boolean = _label({"type": "boolean"})
    assert parse_spec({**boolean, "positive_class": True}).fingerprint == parse_spec(boolean).fingerprint


def test_the_task_keys_are_part_of_the_fingerprint():
    strings = parse_spec(_label(YES_NO, positive_class="Yes"))
    assert parse_spec(_label(YES_NO, positive_class="No")).fingerprint != strings.fingerprint
    grades = parse_spec(_label(GRADES, NO_RATE, task="multiclass"))
    reordered = parse_spec(_label(GRADES, NO_RATE, task="multiclass", classes=["high", "mid", "low"]))
    assert reordered.fingerprint != grades.fingerprint
    assert parse_spec({**spec_dict(), "positive_class": 0}).fingerprint != SHIPPED_FINGERPRINT


# (case id, spec data, the key the error names, fragments of the message)
REFUSED: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "string label without positive_class",
        _label(YES_NO),
        [
            "positive_class: label 'is_fraud' is a categorical column with values ['No', 'Yes']",
            "set positive_class to one of them",
        ],
    ),
    (
        "positive_class not among the categories",
        _label(YES_NO, positive_class="yes"),
        ["positive_class: 'yes' is not a value of label 'is_fraud' ['No', 'Yes']", "set positive_class to one of them"],
    ),
    (
        "unquoted YAML yes as positive_class",
        _label(YES_NO, positive_class=True),
        ["positive_class: True is not a value of label 'is_fraud'", "quote it, e.g. 'Yes'"],
    ),
    (
        "unquoted YAML yes/no as categories",
        _label({"type": "categorical", "categories": [False, True]}),
        ["columns.is_fraud.categories: categories are text", "quote it"],
    ),
    (
        "a string-typed label",
        _label({"type": "string"}, positive_class="Yes"),
        ["task: label 'is_fraud' is a string column", "declare it categorical", "set positive_class to one of them"],
    ),
    (
        "three categories for task binary",
        _label(GRADES, positive_class="high"),
        ["task: task binary needs two values in label 'is_fraud', which has 3 categories", "set task: multiclass"],
    ),
    (
        "integer label beyond 0/1 for task binary",
        _label(STARS),
        ["task: task binary needs 0/1 in integer label 'is_fraud', whose bounds are 1.0..5.0", "set task: multiclass"],
    ),
    (
        "positive_class of a 0/1 label not 0 or 1",
        {**spec_dict(), "positive_class": "Yes"},
        ["positive_class: label 'is_fraud' holds 0 and 1: positive_class is 0 or 1"],
    ),
    (
        "positive_class of a boolean label not true/false",
        _label({"type": "boolean"}, positive_class=1),
        ["positive_class: label 'is_fraud' is boolean: positive_class is true or false"],
    ),
    (
        "classes for task binary",
        {**spec_dict(), "classes": [0, 1]},
        ["classes: classes is for task multiclass, not binary: remove it"],
    ),
    (
        "positive_class for task multiclass",
        _label(GRADES, NO_RATE, task="multiclass", positive_class="high"),
        ["positive_class: positive_class is for task binary, not multiclass: remove it"],
    ),
    (
        "multiclass integer label without classes",
        _label(STARS, NO_RATE, task="multiclass"),
        ["classes: task multiclass with integer label 'is_fraud': list its classes"],
    ),
    (
        "classes with duplicates",
        _label(STARS, NO_RATE, task="multiclass", classes=[1, 2, 2, 3]),
        ["classes: [2] listed more than once: list each class once"],
    ),
    (
        "classes outside the label's bounds",
        _label(STARS, NO_RATE, task="multiclass", classes=[1, 2, 9]),
        ["classes: classes [9] lie outside the bounds of label 'is_fraud' (1.0..5.0)"],
    ),
    (
        "classes that are not the categories",
        _label(GRADES, NO_RATE, task="multiclass", classes=["low", "mid", "top"]),
        ["classes: classes differ from the categories of label 'is_fraud' ['low', 'mid', 'high']"],
    ),
    (
        "text classes of an integer label",
        _label(STARS, NO_RATE, task="multiclass", classes=["1", "2", "3"]),
        ["classes: label 'is_fraud' is an integer column: its classes are integers"],
    ),
    (
        "two classes for task multiclass",
        _label(YES_NO, NO_RATE, task="multiclass"),
        ["classes: task multiclass needs at least 3 classes, has 2", "task binary with a positive_class"],
    ),
    (
        "a boolean label for task multiclass",
        _label({"type": "boolean"}, NO_RATE, task="multiclass"),
        ["task: label 'is_fraud' is boolean, which has two classes: set task: binary"],
    ),
    (
        "a categorical label for task regression",
        _label(GRADES, NO_RATE, task="regression"),
        ["task: task regression needs a numeric label, 'is_fraud' is categorical"],
    ),
    (
        "a numeric label for task multiclass",
        _label(AMOUNT, NO_RATE, task="multiclass"),
        ["task: task multiclass needs a label of classes", "set task: regression"],
    ),
    (
        "a label rate for task regression",
        _label(AMOUNT, task="regression"),
        ["task: task regression has no label rate", "remove validation.label_rate"],
    ),
    (
        "a label rate beyond 0..1",
        {**spec_dict(), "validation": {**NO_RATE, "label_rate": {"min": 0.1, "max": 5}}},
        ["task: validation.label_rate is a share of rows: keep min and max within 0..1"],
    ),
    (
        "an unknown task",
        {**spec_dict(), "task": "ranking"},
        ["task: Input should be 'binary', 'multiclass' or 'regression'"],
    ),
    (
        "a spec_version newer than this Tradewind",
        {**spec_dict(), "spec_version": SPEC_VERSION + 1},
        [f"spec_version: spec_version {SPEC_VERSION + 1} is newer than this Tradewind reads", "upgrade Tradewind"],
    ),
    (
        "spec_version 0",
        {**spec_dict(), "spec_version": 0},
        ["spec_version: Input should be greater than or equal to 1"],
    ),
]


@pytest.mark.parametrize(("data", "fragments"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_task_and_label_that_disagree_are_refused_at_load(tmp_path, data, fragments):
    path = write_spec(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid dataset spec")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_a_quoted_yes_no_label_loads_from_yaml(tmp_path):
    text = SPEC_PATH.read_text(encoding="utf-8").replace(
        "is_fraud: {type: integer, nullable: false, min: 0, max: 1, role: label}",
        "is_fraud: {type: categorical, nullable: false, categories: ['No', 'Yes'], role: label}",
    )
    (tmp_path / "transactions.yaml").write_text(text + "positive_class: 'Yes'\n", encoding="utf-8")
    spec = load_spec(tmp_path / "transactions.yaml")
    assert (spec.label_values, spec.positive_label) == (("No", "Yes"), "Yes")


def test_the_binary_only_stages_accept_todays_labels(shipped_spec):
    require_binary_task(shipped_spec, "the trainer")
    require_binary_task(parse_spec(_label({"type": "boolean"})), "the trainer")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_label(GRADES, NO_RATE, task="multiclass"), "task multiclass is not supported by the trainer yet"),
        (_label(AMOUNT, NO_RATE, task="regression"), "task regression is not supported by the trainer yet"),
        (
            _label(YES_NO, positive_class="Yes"),
            "label 'is_fraud' with positive_class 'Yes' is not supported by the trainer yet",
        ),
        ({**spec_dict(), "positive_class": 0}, "positive_class 0 is not supported by the trainer yet"),
        (_label({"type": "boolean"}, positive_class=False), "positive_class False is not supported by the trainer yet"),
    ],
    ids=["multiclass", "regression", "string labels", "0 positive", "false positive"],
)
def test_the_binary_only_stages_refuse_what_they_cannot_do_yet(data, fragment):
    spec = parse_spec(data)
    with pytest.raises(SpecError) as err:
        require_binary_task(spec, "the trainer")
    assert str(err.value).startswith("data set 'transactions': ")
    assert fragment in str(err.value)
    with pytest.raises(LookupError, match="not supported by the model server yet"):
        require_binary_task(spec, "the model server", error=LookupError)
