"""The label as a training target: every label form of every task, and the errors a bad value gets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.unit.helpers import spec_dict
from tradewind.data.features import labels
from tradewind.data.spec import DatasetSpec, parse_spec
from tradewind.data.target import LabelError, label_targets, target_names

pytestmark = pytest.mark.unit


def _spec(column: dict[str, Any], **keys: Any) -> DatasetSpec:
    """The shipped spec with its label column ``is_fraud`` replaced (and no label rate)."""
    data = spec_dict()
    data["columns"]["is_fraud"] = {**column, "role": "label"}
    data["validation"].pop("label_rate")
    return parse_spec({**data, **keys})


def _targets(spec: DatasetSpec, values: list[Any], dtype: Any = None) -> np.ndarray:
    return label_targets(pd.DataFrame({"is_fraud": pd.Series(values, dtype=dtype)}), spec)


YES_NO = {"type": "categorical", "categories": ["No", "Yes"]}
GRADES = {"type": "categorical", "categories": ["low", "mid", "high"]}


def test_a_01_label_reads_as_it_always_did(shipped_spec, frame):
    y = labels(frame, shipped_spec)
    assert y.dtype == np.int64
    assert np.array_equal(y, frame["is_fraud"].astype("int64").to_numpy())


@pytest.mark.parametrize(
    ("column", "keys", "values", "dtype", "expected"),
    [
        ({"type": "integer", "min": 0, "max": 1}, {}, [0, 1, 1, 0], "int64", [0, 1, 1, 0]),
        ({"type": "integer", "min": 0, "max": 1}, {}, [0.0, 1.0], "float64", [0, 1]),
        ({"type": "integer", "min": 0, "max": 1}, {}, [1, 0, None], "Int64", None),
        ({"type": "integer", "min": 0, "max": 1}, {"positive_class": 0}, [0, 1, 1], "int64", [1, 0, 0]),
        ({"type": "boolean"}, {}, [True, False, True], "bool", [1, 0, 1]),
        ({"type": "boolean"}, {"positive_class": False}, [True, False], "bool", [0, 1]),
        (YES_NO, {"positive_class": "Yes"}, ["Yes", "No", "No"], "object", [1, 0, 0]),
        (YES_NO, {"positive_class": "No"}, ["Yes", "No", "No"], "category", [0, 1, 1]),
    ],
    ids=["0/1", "0/1 as floats", "0/1 with a missing one", "positive 0", "boolean", "positive false", "Yes/No",
         "No positive, categorical dtype"],
)  # fmt: skip
def test_binary_labels_are_1_for_the_positive_class(column, keys, values, dtype, expected):
    spec = _spec(column, **keys)
    if expected is None:
        with pytest.raises(LabelError, match=r"1 of 3 rows .*: <missing> \(row 2\)"):
            _targets(spec, values, dtype)
        return
    y = _targets(spec, values, dtype)
    assert y.dtype == np.int64
    assert y.tolist() == expected


def test_multiclass_labels_are_the_class_index_in_the_spec_order():
    grades = _spec(GRADES, task="multiclass", classes=["high", "low", "mid"])
    assert _targets(grades, ["low", "mid", "high", "low"]).tolist() == [1, 2, 0, 1]
    assert target_names(grades) == ["high", "low", "mid"]
    stars = _spec({"type": "integer", "min": 1, "max": 5}, task="multiclass", classes=[5, 4, 3, 2, 1])
    assert _targets(stars, [1, 5, 3], "int64").tolist() == [4, 0, 2]
    assert target_names(stars) == ["5", "4", "3", "2", "1"]


def test_regression_labels_are_their_values():
    spec = _spec({"type": "numeric", "min": 0}, task="regression")
    y = _targets(spec, [1.5, 0, "2.25"], "object")
    assert y.dtype == np.float64
    assert y.tolist() == [1.5, 0.0, 2.25]
    assert target_names(spec) is None


def test_an_undeclared_class_names_the_column_the_values_and_the_rows():
    spec = _spec(GRADES, task="multiclass")
    values = ["low", "top", "mid", "top", "x" * 500, None, *["low"] * 10, "top"]
    with pytest.raises(LabelError) as caught:
        _targets(spec, values)
    message = str(caught.value)
    assert message.startswith("label 'is_fraud' of data set 'transactions' (multiclass) has 5 of 17 rows with values")
    assert "with values outside ['low', 'mid', 'high']: " in message
    assert "'top' (rows 1, 3, 16)" in message
    assert "<missing> (row 5)" in message
    assert "...(+460 chars)" in message  # a long value is cut short
    assert "x" * 100 not in message
    assert isinstance(caught.value, ValueError)  # the stages report it as bad input


def test_many_bad_values_show_a_few_of_each():
    spec = _spec(YES_NO, positive_class="Yes")
    values = [f"v{i}" for i in range(50)] + ["v0"] * 20
    with pytest.raises(LabelError) as caught:
        _targets(spec, values)
    message = str(caught.value)
    assert "70 of 70 rows" in message
    assert "'v0' (rows 0, 50, 51, 52, 53 and 16 more)" in message
    assert "'v4'" in message
    assert "'v5'" not in message
    assert message.endswith(", ...")
    assert len(message) < 500


@pytest.mark.parametrize(
    ("column", "keys", "values", "shown"),
    [
        ({"type": "integer", "min": 0, "max": 1}, {}, [0, 2, 1], "2 (row 1)"),
        ({"type": "boolean"}, {}, [True, "maybe"], "'maybe' (row 1)"),
        ({"type": "numeric"}, {"task": "regression"}, [1.0, "n/a", float("inf"), None], "'n/a' (row 1), inf (row 2)"),
    ],
    ids=["2 in a 0/1 label", "text in a boolean label", "not a number in a target"],
)
def test_other_bad_values_are_refused(column, keys, values, shown):
    with pytest.raises(LabelError, match="label 'is_fraud'") as caught:
        _targets(_spec(column, **keys), values, "object")
    assert shown in str(caught.value)


def test_a_frame_without_the_label_is_refused(shipped_spec):
    with pytest.raises(LabelError, match="label column 'is_fraud' of data set 'transactions' is not in the rows"):
        label_targets(pd.DataFrame({"amount": [1.0]}), shipped_spec)
