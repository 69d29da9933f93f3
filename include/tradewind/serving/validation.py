"""Request validation: a predict body checked column by column against the model's dataset spec.

A batch is never validated record by record (one pydantic model per instance would cost more than
scoring it). Each field's values are gathered into one list, their Python types are checked as a
set, and conversions, finiteness and the spec's bounds are numpy operations over the column. Only
when a column is bad is it walked to find the first offending instance, so a 422 still names the
instance index, the field and the reason::

    {"loc": ["body", "instances", 3, "amount"], "msg": "Input should be >= 0 (got -5.0)", "type": "greater_than_equal"}

What is checked (the spec is the model's own, from its manifest; the signature is its MLflow one):

- required: the spec's feature columns and its timestamp, plus any signature input the spec does
  not describe; id and key columns (``transaction_id``, ``customer_id``) are optional, checked
  when present and kept for the inference log; the label and unknown fields are ignored;
- types, strictly as JSON has them: numeric takes numbers (not strings, not booleans); integer takes
  whole numbers (``3`` or ``3.0``); boolean takes ``true``/``false``; categorical and string take
  strings; timestamp takes ISO 8601 strings of the years 1678 to 2261 (a naive one is read as UTC);
- nulls only in ``nullable`` columns (an optional field may be left out, not sent as null);
  numbers must be finite and within ``min``/``max``;
- categorical values outside the spec's categories are accepted: the features path scores them as
  the model's unknown bucket, and the drift check watches for them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from tradewind.data.columns import ColumnBatch
from tradewind.data.spec import ColumnRole, ColumnType, DatasetSpec
from tradewind.registry.loading import SignatureInput

MAX_ERRORS: Final = 20
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# Timestamps are nanoseconds (pandas), which reach from 1677-09-21 to 2262-04-11: the whole years in
# between, as written (whatever the UTC offset), are what a timestamp may have; the schema says so too.
TIMESTAMP_YEARS: Final = (1678, 2261)
_TIMESTAMP_YEAR_PATTERN: Final = r"^(167[89]|16[89][0-9]|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-"
# The form clients send (``2026-01-09T10:11:12.123Z``, an offset or none), read without pandas; any
# other text, or a value this form cannot judge alone, goes through pandas' ISO 8601 parser.
_COMMON_TIMESTAMP: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"  # date and time
    r"(?:\.([0-9]{1,9}))?"  # fraction of a second
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))?",  # zone
    re.ASCII,
)
_EPOCH_DAY: Final = dt.date(1970, 1, 1).toordinal()
_EXACT: Final = 2.0**53  # numbers smaller than this are the same as floats and as integers


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()
_NONE = type(None)

# MLflow signature types -> spec column types (for signature inputs the spec does not describe).
_SIGNATURE_TYPES: Final = {
    "double": ColumnType.numeric,
    "float": ColumnType.numeric,
    "long": ColumnType.integer,
    "integer": ColumnType.integer,
    "boolean": ColumnType.boolean,
    "string": ColumnType.string,
    "datetime": ColumnType.timestamp,
}
_ALLOWED: Final[dict[ColumnType, frozenset[type]]] = {
    ColumnType.numeric: frozenset({int, float}),
    ColumnType.integer: frozenset({int, float}),
    ColumnType.boolean: frozenset({bool}),
    ColumnType.categorical: frozenset({str}),
    ColumnType.string: frozenset({str}),
    ColumnType.timestamp: frozenset({str}),
}
_EXPECTED: Final = {
    ColumnType.numeric: ("a number", "float_type"),
    ColumnType.integer: ("an integer", "int_type"),
    ColumnType.boolean: ("a boolean", "bool_type"),
    ColumnType.categorical: ("a string", "string_type"),
    ColumnType.string: ("a string", "string_type"),
    ColumnType.timestamp: ("an ISO 8601 date-time string", "string_type"),
}
_JSON_NAMES: Final = {str: "string", bool: "boolean", int: "integer", float: "number", dict: "object", list: "array"}


class RequestInvalid(ValueError):
    """A predict body is malformed or an instance breaks the spec; ``errors`` are FastAPI-style details."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def error(loc: Sequence[str | int], msg: str, kind: str) -> dict[str, Any]:
    """One error detail: ``{"loc": [...], "msg": ..., "type": ...}``."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def parse_instances(body: bytes) -> list[Any]:
    """The ``instances`` list of a predict body; :class:`RequestInvalid` for bad JSON or another shape."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError as err:
        msg = f"JSON decode error: {err.msg} at position {err.pos}"
        raise RequestInvalid([error(["body"], msg, "json_invalid")]) from None
    except (ValueError, RecursionError) as err:  # not UTF-8/16/32, or nested deeper than the parser goes
        reason = "nested too deeply" if isinstance(err, RecursionError) else "not valid UTF-8 text"
        raise RequestInvalid([error(["body"], f"JSON decode error: {reason}", "json_invalid")]) from None
    if not isinstance(document, dict):
        got = _json_type(document)
        msg = f'Input should be an object like {{"instances": [...]}}, got {got}'
        raise RequestInvalid([error(["body"], msg, "model_attributes_type")])
    if "instances" not in document:
        raise RequestInvalid([error(["body", "instances"], "Field required", "missing")])
    instances = document["instances"]
    if not isinstance(instances, list):
        got = _json_type(instances)
        raise RequestInvalid([error(["body", "instances"], f"Input should be a list, got {got}", "list_type")])
    if not instances:
        raise RequestInvalid([error(["body", "instances"], "List should have at least 1 item", "too_short")])
    return instances


@dataclass(frozen=True)
class FieldRule:
    """How one field of an instance is checked."""

    name: str
    type: ColumnType
    required: bool
    nullable: bool = False
    min: float | None = None
    max: float | None = None

    def json_schema(self) -> dict[str, Any]:
        """The OpenAPI (JSON Schema) of the field's value."""
        schema: dict[str, Any]
        if self.type == ColumnType.numeric:
            schema = {"type": "number"}
        elif self.type == ColumnType.integer:
            schema = {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
        elif self.type == ColumnType.boolean:
            schema = {"type": "boolean"}
        elif self.type == ColumnType.timestamp:
            schema = {"type": "string", "format": "date-time", "pattern": _TIMESTAMP_YEAR_PATTERN}
        else:
            schema = {"type": "string"}
        if self.min is not None:
            schema["minimum"] = self.min
        if self.max is not None:
            schema["maximum"] = self.max
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
        return schema


class RequestValidator:
    """Checks a batch of instances against a dataset spec (and a signature) and returns a typed frame."""

    def __init__(
        self,
        spec: DatasetSpec,
        signature: Iterable[SignatureInput] | None = None,
        *,
        max_errors: int = MAX_ERRORS,
    ) -> None:
        self.spec = spec
        self.max_errors = max_errors
        self.rules = self._rules(spec, tuple(signature or ()))

    @staticmethod
    def _rules(spec: DatasetSpec, signature: tuple[SignatureInput, ...]) -> tuple[FieldRule, ...]:
        rules = []
        needed = {*spec.feature_columns, spec.timestamp}
        for name, col in spec.columns.items():
            if name == spec.label:
                continue
            if name in needed or col.role in (ColumnRole.id, ColumnRole.key):
                rules.append(FieldRule(name, col.type, name in needed, col.nullable, col.min, col.max))
        for item in signature:
            if item.name not in spec.columns:
                kind = _SIGNATURE_TYPES.get(str(item.type), ColumnType.string)
                rules.append(FieldRule(item.name, kind, item.required, nullable=not item.required))
        return tuple(rules)

    @property
    def required(self) -> list[str]:
        return [r.name for r in self.rules if r.required]

    @property
    def key(self) -> tuple[FieldRule, ...]:
        """Two validators with equal keys accept and produce the same thing."""
        return self.rules

    def validate(self, instances: Sequence[Any]) -> pd.DataFrame:
        """A frame of the known fields, typed, one row per instance; :class:`RequestInvalid` otherwise."""
        return self.validate_columns(instances).to_frame()

    def validate_columns(self, instances: Sequence[Any]) -> ColumnBatch:
        """:meth:`validate`'s columns without the frame (what the server scores and logs)."""
        types = set(map(type, instances))
        if types != {dict}:
            i = next(i for i, inst in enumerate(instances) if type(inst) is not dict)
            msg = f"Input should be an object, got {_json_type(instances[i])}"
            raise RequestInvalid([error(["body", "instances", i], msg, "model_attributes_type")])
        columns: dict[str, Any] = {}
        errors: list[tuple[int, int, dict[str, Any]]] = []
        for position, rule in enumerate(self.rules):
            values = [inst.get(rule.name, MISSING) for inst in instances]
            try:
                converted = _column(rule, values)
            except _Bad as bad:
                errors.append((bad.index, position, error(["body", "instances", bad.index, rule.name], *bad.args)))
                continue
            if converted is not None:
                columns[rule.name] = converted
        if errors:
            errors.sort(key=lambda e: (e[0], e[1]))
            raise RequestInvalid([e for _, _, e in errors[: self.max_errors]])
        return ColumnBatch(columns, len(instances))

    def instance_schema(self) -> dict[str, Any]:
        """The OpenAPI schema of one instance (unknown fields are allowed and ignored)."""
        return {
            "type": "object",
            "properties": {r.name: r.json_schema() for r in self.rules},
            "required": self.required,
            "additionalProperties": True,
        }


class _Bad(Exception):
    """The first problem of a column: the instance index, then (message, error type) as args."""

    def __init__(self, index: int, msg: str, kind: str) -> None:
        super().__init__(msg, kind)
        self.index = index


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _first(values: list[Any], predicate: Any) -> int:
    return next(i for i, v in enumerate(values) if predicate(v))


def _column(rule: FieldRule, values: list[Any]) -> Any:
    """The column as an array of its type, ``None`` for an optional field no instance has; or :class:`_Bad`."""
    types = set(map(type, values))
    allowed = _ALLOWED[rule.type]
    problems: list[_Bad] = []
    if not types <= allowed | {_NONE, _Missing}:
        i = _first(values, lambda v: type(v) not in allowed and v is not None and v is not MISSING)
        what, kind = _EXPECTED[rule.type]
        problems.append(_Bad(i, f"Input should be {what}, got {_json_type(values[i])}", kind))
    if _NONE in types and not rule.nullable:  # an optional field may be left out, but not sent as null
        problems.append(_Bad(_first(values, lambda v: v is None), "Input should not be null", "null_forbidden"))
    if _Missing in types:
        if not rule.required:
            if types == {_Missing}:
                return None
            values = [None if v is MISSING else v for v in values]
            types = (types - {_Missing}) | {_NONE}
        else:
            problems.append(_Bad(_first(values, lambda v: v is MISSING), "Field required", "missing"))
    if problems:
        raise min(problems, key=lambda p: p.index)
    nulls = _NONE in types
    if rule.type in (ColumnType.numeric, ColumnType.integer):
        return _numbers(rule, values, nulls)
    if rule.type == ColumnType.boolean:
        return pd.array(values, dtype="boolean") if nulls else np.array(values, dtype=bool)
    if rule.type == ColumnType.timestamp:
        return _timestamps(values, nulls)
    _check_text(values)
    return np.array(values, dtype=object)


def _numbers(rule: FieldRule, values: list[Any], nulls: bool) -> Any:
    """The column as float64 (numeric) or int64 (integer) values, or :class:`_Bad` naming the first
    bad one. A column with no null and no doubtful value is judged value by value in Python, which
    for a few values is much cheaper than the numpy checks; anything else takes the numpy checks."""
    if not nulls and _plain_numbers(rule, values):
        if rule.type == ColumnType.integer:
            return np.array([int(v) for v in values] if float in set(map(type, values)) else values, dtype=np.int64)
        return np.array(values, dtype=np.float64)
    return _checked_numbers(rule, values, nulls)


def _plain_numbers(rule: FieldRule, values: list[Any]) -> bool:
    """Every value is a finite number below 2**53 in size (exact as a float), within the bounds, and
    whole for an integer column: what :func:`_checked_numbers` accepts without a second look."""
    low, high, whole = rule.min, rule.max, rule.type == ColumnType.integer
    for value in values:
        if not -_EXACT < value < _EXACT:  # also NaN and the infinities
            return False
        if (low is not None and value < low) or (high is not None and value > high):
            return False
        if whole and type(value) is float and not value.is_integer():
            return False
    return True


def _checked_numbers(rule: FieldRule, values: list[Any], nulls: bool) -> Any:
    filled = [math.nan if v is None else v for v in values] if nulls else values
    try:
        arr = np.array(filled, dtype=np.float64)
    except OverflowError:  # an integer beyond the float range
        i = _first(values, lambda v: isinstance(v, int) and abs(v) > 1e308)
        raise _Bad(i, "Input should be a finite number, got one out of range", "finite_number") from None
    present = np.array([v is not None for v in values]) if nulls else np.ones(len(arr), dtype=bool)
    _fail_at(present & ~np.isfinite(arr), values, "Input should be a finite number", "finite_number")
    if rule.type == ColumnType.integer:
        _fail_at(present & (arr != np.floor(arr)), values, "Input should be an integer", "int_from_float")
        for at in np.flatnonzero(present & (np.abs(arr) >= 2.0**53)).tolist():  # exact only where floats round
            if not INT64_MIN <= int(values[at]) <= INT64_MAX:
                raise _Bad(at, f"Input should fit a 64-bit integer (got {values[at]!r})", "int_parsing_size")
    if rule.min is not None:
        _fail_at(present & (arr < rule.min), values, f"Input should be >= {rule.min:g}", "greater_than_equal")
    if rule.max is not None:
        _fail_at(present & (arr > rule.max), values, f"Input should be <= {rule.max:g}", "less_than_equal")
    if rule.type == ColumnType.integer:
        if nulls:
            return pd.array([None if v is None else int(v) for v in values], dtype="Int64")
        return np.array([int(v) for v in values] if float in set(map(type, values)) else values, dtype=np.int64)
    return arr


def _fail_at(mask: np.ndarray, values: list[Any], msg: str, kind: str) -> None:
    if mask.any():
        i = int(np.argmax(mask))
        raise _Bad(i, f"{msg} (got {values[i]!r})", kind)


def _timestamps(values: list[Any], nulls: bool) -> Any:
    """The column as UTC nanoseconds (a pandas ``DatetimeArray``)."""
    if not nulls:
        ticks = [_common_timestamp(v) for v in values]
        if None not in ticks:
            return pd.DatetimeIndex(np.array(ticks, dtype=np.int64).view("datetime64[ns]"), tz="UTC").array
    return _parse_timestamps(values, nulls)


def _common_timestamp(text: str) -> int | None:
    """Nanoseconds since the epoch (UTC) of a valid timestamp in the common form; ``None`` for anything
    else, which :func:`_parse_timestamps` then reads (or refuses) as it always did."""
    match = _COMMON_TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    first, last = TIMESTAMP_YEARS
    if not first <= int(year) <= last or int(hour) > 23 or int(minute) > 59 or int(second) > 59:
        return None
    try:
        days = dt.date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:  # no such day
        return None
    seconds = ((days * 24 + int(hour)) * 60 + int(minute)) * 60 + int(second)
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            return None
        offset = (int(offset_hours) * 60 + int(offset_minutes)) * 60
        seconds += -offset if sign == "+" else offset
    return seconds * 1_000_000_000 + (int(fraction.ljust(9, "0")) if fraction else 0)


def _parse_timestamps(values: list[Any], nulls: bool) -> Any:
    text = pd.Series(values, dtype=object)
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    in_years = text.str.match(_TIMESTAMP_YEAR_PATTERN, na=False).astype(bool)
    bad = (parsed.isna() | ~in_years).to_numpy()
    if nulls:
        bad &= np.array([v is not None for v in values])
    first, last = TIMESTAMP_YEARS
    msg = f"Input should be an ISO 8601 date-time in the years {first} to {last}"
    _fail_at(bad, values, msg, "datetime_parsing")
    return parsed.array


def _check_text(values: list[Any]) -> None:
    """Strings must be encodable (JSON lets lone surrogates through; Parquet and the model do not)."""
    try:
        "".join(v for v in values if v is not None).encode("utf-8")
    except UnicodeEncodeError:
        i = _first(values, lambda v: v is not None and not _encodes(v))
        raise _Bad(i, "Input should be valid Unicode text (lone surrogate)", "string_unicode") from None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
