"""Great Expectations suites built from a dataset spec, kept as versioned files.

``build_suite(spec)`` turns a spec into a GX 1.x ``ExpectationSuite``: schema, types, nulls,
ranges, allowed categories, row-count bounds, the label's values for its task (:func:`label_checks`),
label-rate bounds, id uniqueness and freshness.
The suite is stored as ``<dataset>.v<schema_version>.json`` in the suites folder
(:func:`expectations_dir`: ``TRADEWIND_EXPECTATIONS_DIR``, else ``expectations/`` beside the config
folder, which is ``include/expectations`` for the checkout's own config) and reviewed like code:
``python -m tradewind build-suites`` rewrites the files from the specs and a test fails when a
committed file no longer matches its spec.

Freshness depends on the partition's date, so it is written with GX suite parameters
(``$PARAMETER``) that the runner fills in for each partition.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from tradewind import config
from tradewind.config import REPO_ROOT
from tradewind.data.spec import ColumnSpec, ColumnType, DatasetSpec

log = logging.getLogger(__name__)

# The checkout's suites (those of include/config's data sets).
EXPECTATIONS_DIR = REPO_ROOT / "include" / "expectations"
EXPECTATIONS_ENV = "TRADEWIND_EXPECTATIONS_DIR"

# dtype names (and, for object columns, Python type names) GX accepts for each spec type.
TYPE_LISTS: dict[ColumnType, list[str]] = {
    ColumnType.numeric: ["float64", "float32", "float16", "int64", "int32", "Float64", "Int64", "float", "int"],
    ColumnType.integer: ["int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "Int64", "Int32", "int"],
    # Categorical columns are checked as string values (the reader turns pandas categoricals into them).
    ColumnType.categorical: ["str", "string", "StringDtype"],
    ColumnType.string: ["str", "string", "StringDtype"],
    ColumnType.boolean: ["bool", "boolean", "BooleanDtype", "bool_"],
    # Timestamps are UTC without a zone once read (the reader converts zoned ones).
    ColumnType.timestamp: ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
}

EARLIEST, LATEST = "earliest_event_time", "latest_event_time"


def expectations_dir() -> Path:
    """Where the suites of this process's data sets are: ``TRADEWIND_EXPECTATIONS_DIR``, else
    ``<config dir>/../expectations`` (the config dir being ``TRADEWIND_CONFIG_DIR`` or ``include/config``)."""
    override = os.environ.get(EXPECTATIONS_ENV)
    if override:
        return Path(override)
    return Path(config.CONFIG_DIR).parent / "expectations"


def suite_path(spec: DatasetSpec, directory: Path | None = None) -> Path:
    return (directory or expectations_dir()) / f"{spec.name}.v{spec.schema_version}.json"


def suite_name(spec: DatasetSpec) -> str:
    return f"{spec.name}.v{spec.schema_version}"


def _e(kind: str, notes: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"notes": notes}}


def build_suite_dict(spec: DatasetSpec) -> dict[str, Any]:
    """The suite as plain data, in a stable order (what the versioned file holds)."""
    rules = spec.validation
    out: list[dict[str, Any]] = [
        _e(
            "expect_table_columns_to_match_set",
            "schema: exactly the spec's columns",
            column_set=list(spec.columns),
            exact_match=True,
        ),
        _e(
            "expect_table_row_count_to_be_between",
            "row-count bounds",
            min_value=int(rules.row_count.min),
            max_value=int(rules.row_count.max),
        ),
    ]
    for name, col in spec.columns.items():
        out.append(
            _e(
                "expect_column_values_to_be_in_type_list",
                f"type: {col.type.value}",
                column=name,
                type_list=TYPE_LISTS[col.type],
            )
        )
        if not col.nullable:
            out.append(_e("expect_column_values_to_not_be_null", "required", column=name))
        if col.min is not None or col.max is not None:
            out.append(
                _e("expect_column_values_to_be_between", "range", column=name, min_value=col.min, max_value=col.max)
            )
        if col.categories:
            out.append(
                _e(
                    "expect_column_values_to_be_in_set",
                    "allowed categories",
                    column=name,
                    value_set=list(col.categories),
                )
            )
    if rules.unique_id:
        out.append(_e("expect_column_values_to_be_unique", "ids are unique", column=spec.id))
    out.extend(label_checks(spec))
    out.append(
        _e(
            "expect_column_values_to_be_between",
            "freshness: events fall on the partition's date",
            column=spec.timestamp,
            min_value={"$PARAMETER": EARLIEST},
            max_value={"$PARAMETER": LATEST},
        )
    )
    return {
        "name": suite_name(spec),
        "meta": {"dataset": spec.name, "schema_version": spec.schema_version, "built_from": "dataset spec"},
        "expectations": out,
    }


def label_checks(spec: DatasetSpec) -> list[dict[str, Any]]:
    """The label's checks for its task beyond its column's own (type, nulls, bounds, categories).

    binary and multiclass: the label's values are the task's (binary: the negative and the positive
    class; multiclass: ``classes``), unless the column's checks already say so (true/false, a 0/1
    integer bounded 0..1, categories that are the classes); a batch with another value is quarantined
    naming it. binary: the share of positive labels within ``validation.label_rate``. regression: a
    numeric label, bounded by the column's min and max, needs nothing more.
    """
    out: list[dict[str, Any]] = []
    values = spec.label_values
    if values is not None and not _values_implied(spec.columns[spec.label], values):
        out.append(
            _e(
                "expect_column_values_to_be_in_set",
                f"label values of task {spec.task}",
                column=spec.label,
                value_set=list(values),
            )
        )
    rate = spec.validation.label_rate
    if rate is not None:
        out.extend(_label_rate_checks(spec, rate.min, rate.max))
    return out


def _values_implied(col: ColumnSpec, values: tuple[Any, ...]) -> bool:
    """Whether the column's own checks already keep it to ``values``."""
    if col.type == ColumnType.boolean:
        return True
    if col.categories is not None:
        return set(col.categories) == set(values)
    if col.min is None or col.max is None:
        return False
    return set(values) == {0, 1} and col.min >= 0 and col.max <= 1


def _label_rate_checks(spec: DatasetSpec, low: float, high: float) -> list[dict[str, Any]]:
    positive = spec.positive_label
    if spec.label_values == (0, 1):  # 0/1 (or false/true) with 1 positive: the rate is the label's mean
        return [_e("expect_column_mean_to_be_between", "label rate", column=spec.label, min_value=low, max_value=high)]
    # Any other positive class: the share of rows holding it, as "mostly" of a set check.
    out = []
    if low > 0:
        out.append(
            _e(
                "expect_column_values_to_be_in_set",
                f"label rate: at least {low} of the labels are {positive!r}",
                column=spec.label,
                value_set=[positive],
                mostly=low,
            )
        )
    if high < 1:
        out.append(
            _e(
                "expect_column_values_to_not_be_in_set",
                f"label rate: at most {high} of the labels are {positive!r}",
                column=spec.label,
                value_set=[positive],
                mostly=round(1 - high, 12),
            )
        )
    return out


def suite_json(spec: DatasetSpec) -> str:
    return json.dumps(build_suite_dict(spec), indent=2) + "\n"


def write_suite(spec: DatasetSpec, directory: Path | None = None) -> Path:
    path = suite_path(spec, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(suite_json(spec), encoding="utf-8")
    return path


def load_suite_dict(spec: DatasetSpec, directory: Path | None = None) -> tuple[dict[str, Any], str]:
    """The versioned suite of ``spec`` and where it came from.

    A spec with no committed suite file yet (a newly added data set) gets one built from the spec,
    with a log line saying how to version it.
    """
    path = suite_path(spec, directory)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8")), path.name
    log.warning(
        "No versioned suite %s in %s: using one built from the spec. Run `make suites` (python -m tradewind "
        "build-suites) to version it.",
        path.name,
        path.parent,
    )
    return build_suite_dict(spec), "built from spec"
