"""Dataset specs: the one description of a data set that every stage reads.

A spec is a YAML file under ``include/config/datasets``. It names the source, the id, label,
timestamp and segment columns, the supervised task its label defines (``task``, with
``positive_class`` or ``classes``), every column with its type and bounds, and the validation
thresholds. Loading checks it completely (:func:`tradewind.config.load_config`); a bad spec raises
:class:`~tradewind.config.ConfigError` (also known here as :data:`SpecError`) naming the file, the key
and what is wrong with it. Its ``drift:`` section is :mod:`tradewind.data.drift_spec`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from tradewind.config import ConfigError, StrictModel, load_config, parse_config

# Re-exported: code outside the config base still imports these from here.
from tradewind.config import deep_merge as deep_merge
from tradewind.config import format_validation_error as format_validation_error
from tradewind.config import read_yaml as read_yaml
from tradewind.data.drift_spec import FEATURES_CONTEXT, DriftConfig

# A dataset spec's error is the config error (one type for every config file); the old name stays.
SpecError = ConfigError

# The spec format this Tradewind reads. Version 1 is every spec written before the key existed (a spec
# without ``spec_version`` is version 1); CHANGELOG.md says what each format change added and how to move.
SPEC_VERSION = 1

Task = Literal["binary", "multiclass", "regression"]
# A label's value as a spec names it: a category (text), an integer class or a boolean.
LabelValue = bool | int | str

# PyYAML reads unquoted yes/no/on/off/true/false as booleans: a Yes/No label's values must be quoted.
YAML_BOOLEAN_HINT = "YAML reads an unquoted yes/no/on/off/true/false as a boolean: quote it, e.g. 'Yes'"


class ColumnType(StrEnum):
    numeric = "numeric"
    integer = "integer"
    categorical = "categorical"
    boolean = "boolean"
    timestamp = "timestamp"
    string = "string"


class ColumnRole(StrEnum):
    feature = "feature"
    id = "id"
    key = "key"
    label = "label"
    timestamp = "timestamp"


class ColumnSpec(StrictModel):
    type: ColumnType
    nullable: bool = False
    role: ColumnRole = ColumnRole.feature
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    # Personal data: ``hash`` (``true``) keeps a keyed hash of each value, ``drop`` leaves the column out
    # wherever records are kept beyond the lake (inference log, reports, run artifacts; tradewind.data.pii).
    pii: Literal["hash", "drop"] | None = None

    @field_validator("categories", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            raise ValueError(f"categories are text: {YAML_BOOLEAN_HINT}")
        return value

    @field_validator("pii", mode="before")
    @classmethod
    def _pii_flag(cls, value: Any) -> Any:
        return {True: "hash", False: None}.get(value, value) if isinstance(value, bool) else value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A column without the flag dumps as before (the spec's fingerprint does not move).
        data: dict[str, Any] = handler(self)
        if data.get("pii") is None:
            data.pop("pii", None)
        return data

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if self.type == ColumnType.categorical and not self.categories:
            raise ValueError("a categorical column needs a non-empty 'categories' list")
        if self.categories is not None and self.type != ColumnType.categorical:
            raise ValueError(f"'categories' is only allowed on categorical columns, not {self.type.value}")
        if (self.min is not None or self.max is not None) and self.type not in (
            ColumnType.numeric,
            ColumnType.integer,
        ):
            raise ValueError(f"'min'/'max' are only allowed on numeric or integer columns, not {self.type.value}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class SyntheticOptions(StrictModel):
    seed: int = 7
    rows_per_day: int = Field(default=20000, gt=0)
    customers: int = Field(default=50000, gt=0)


class FileOptions(StrictModel):
    # A path or URI with a ``{date}`` placeholder, e.g. ``file:///data/in/{date}/*.csv``.
    uri: str
    format: Literal["parquet", "csv"] = "parquet"
    encoding: str = "utf-8"
    delimiter: str = ","

    @model_validator(mode="after")
    def _check(self) -> FileOptions:
        if "{date}" not in self.uri:
            raise ValueError("'uri' must contain a {date} placeholder so each day reads its own files")
        return self


class SourceSpec(StrictModel):
    kind: Literal["synthetic", "files"]
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _check_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # A field validator (not a model one) so an error's key path reads ``source.options.<key>``.
        kind = info.data.get("kind")
        if kind is not None:
            (SyntheticOptions if kind == "synthetic" else FileOptions).model_validate(options)
        return options

    @property
    def synthetic(self) -> SyntheticOptions:
        return SyntheticOptions.model_validate(self.options)

    @property
    def files(self) -> FileOptions:
        return FileOptions.model_validate(self.options)


class Bounds(StrictModel):
    min: float
    max: float

    @model_validator(mode="after")
    def _check(self) -> Bounds:
        if self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class FreshnessSpec(StrictModel):
    tolerance_hours: float = Field(default=1.0, ge=0)


class TimestampRule(StrictModel):
    """How timestamp values are read: one rule per data set, the same for CSV and Parquet.

    * ``naive_zone``: the IANA zone of values written without an offset (default ``UTC``); they are
      read as local times of that zone and stored in UTC. A local time that does not exist or is
      ambiguous in that zone (a daylight-saving change) is refused.
    * ``offsets``: values written with an offset (``+01:00``, ``Z``; a zoned Parquet column):
      ``any`` converts each to UTC by its own offset; ``one`` refuses a batch whose column holds
      more than one offset; ``none`` refuses any offset (the data set sends local times only).
    * ``mixed``: a column holding both naive and zoned values is refused (``refuse``, the default:
      the two were probably written by different clocks) or read value by value (``allow``).

    A refused batch is quarantined naming the column, the rows and sample values; no value is ever
    shifted silently.
    """

    naive_zone: str = "UTC"
    offsets: Literal["any", "one", "none"] = "any"
    mixed: Literal["refuse", "allow"] = "refuse"

    @field_validator("naive_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"'{value}' is not a time zone name (e.g. UTC, Europe/Berlin, America/Los_Angeles)"
            ) from None
        return value


class ValidationSpec(StrictModel):
    row_count: Bounds
    label_rate: Bounds | None = None
    freshness: FreshnessSpec = FreshnessSpec(tolerance_hours=1.0)
    unique_id: bool = True


# -- the label and its task ----------------------------------------------------------------------
# Each check returns what is wrong, naming the key and the fix, or None.


def _label_column(data: Mapping[str, Any]) -> tuple[str, ColumnSpec] | None:
    """The label's name and column from a spec being checked (None while either is itself invalid)."""
    label, columns = data.get("label"), data.get("columns")
    if label is None or columns is None or label not in columns:
        return None  # an unknown label column is reported by the reference check
    return label, columns[label]


def _label_type_problem(task: str, name: str, col: ColumnSpec) -> str:
    """Why a label of ``col``'s type cannot serve ``task`` (called once the type is known not to fit)."""
    kind = col.type.value
    if col.type == ColumnType.string:
        fix = ", and set positive_class to one of them" if task == "binary" else ""
        return (
            f"label '{name}' is a string column: declare it categorical with its values "
            f"(type: categorical, categories: [...]){fix}"
        )
    if col.type == ColumnType.timestamp:
        return f"label '{name}' is a timestamp column: a label holds classes or a numeric target"
    if task == "regression":
        return (
            f"task regression needs a numeric label, '{name}' is {kind}: set task: binary or multiclass, "
            "or declare the label numeric"
        )
    if col.type == ColumnType.boolean:
        return f"label '{name}' is boolean, which has two classes: set task: binary"
    return (
        f"task {task} needs a label of classes (0/1 integers, true/false or categories), '{name}' is {kind}: "
        "set task: regression for a numeric target"
    )


def _binary_label_problem(name: str, col: ColumnSpec) -> str | None:
    if col.type == ColumnType.boolean:
        return None
    if col.type == ColumnType.integer:
        if (col.min is not None and col.min < 0) or (col.max is not None and col.max > 1):
            return (
                f"task binary needs 0/1 in integer label '{name}', whose bounds are {col.min}..{col.max}: "
                "bound it with min: 0, max: 1, or set task: multiclass and list its classes"
            )
        return None
    if col.type == ColumnType.categorical:
        categories = list(col.categories or ())
        if len(categories) != 2:
            return (
                f"task binary needs two values in label '{name}', which has {len(categories)} categories "
                f"{categories}: set task: multiclass, or keep two categories"
            )
        return None
    return _label_type_problem("binary", name, col)


def _multiclass_label_problem(name: str, col: ColumnSpec) -> str | None:
    if col.type in (ColumnType.integer, ColumnType.categorical):
        return None
    return _label_type_problem("multiclass", name, col)


def _regression_label_problem(name: str, col: ColumnSpec) -> str | None:
    if col.type in (ColumnType.numeric, ColumnType.integer):
        return None
    return _label_type_problem("regression", name, col)


LABEL_PROBLEMS = {
    "binary": _binary_label_problem,
    "multiclass": _multiclass_label_problem,
    "regression": _regression_label_problem,
}


def default_positive(col: ColumnSpec) -> LabelValue | None:
    """The positive class of a binary label that does not name one: 1 for 0/1 integers, true for booleans."""
    return {ColumnType.integer: 1, ColumnType.boolean: True}.get(col.type)


def _positive_problem(value: Any, name: str, col: ColumnSpec) -> str | None:
    hint = f" ({YAML_BOOLEAN_HINT})" if isinstance(value, bool) and col.type == ColumnType.categorical else ""
    if col.type == ColumnType.categorical:
        categories = list(col.categories or ())
        if value is None:
            return f"label '{name}' is a categorical column with values {categories}: set positive_class to one of them"
        if not isinstance(value, str) or value not in categories:
            return f"{value!r} is not a value of label '{name}' {categories}: set positive_class to one of them{hint}"
        return None
    if value is None:
        return None
    if col.type == ColumnType.boolean and not isinstance(value, bool):
        return f"label '{name}' is boolean: positive_class is true or false"
    if col.type == ColumnType.integer and (isinstance(value, bool) or value not in (0, 1)):
        return f"label '{name}' holds 0 and 1: positive_class is 0 or 1"
    return None


def _classes_problem(value: tuple[int | str, ...] | None, name: str, col: ColumnSpec) -> str | None:
    if value is not None:
        repeated = list(dict.fromkeys(v for v in value if value.count(v) > 1))
        if repeated:
            return f"{repeated} listed more than once: list each class once"
    if col.type == ColumnType.integer:
        if value is None:
            return f"task multiclass with integer label '{name}': list its classes (e.g. classes: [0, 1, 2])"
        if any(not isinstance(v, int) for v in value):
            return f"label '{name}' is an integer column: its classes are integers"
        outside = [v for v in value if isinstance(v, int) and not _within(v, col)]
        if outside:
            return f"classes {outside} lie outside the bounds of label '{name}' ({col.min}..{col.max}): widen them"
    elif value is not None and set(value) != set(col.categories or ()):
        return (
            f"classes differ from the categories of label '{name}' {list(col.categories or ())}: "
            "list the same values, or leave classes out to use the categories"
        )
    count = len(value if value is not None else col.categories or ())
    if count < 3:
        return (
            f"task multiclass needs at least 3 classes, has {count}: two classes are task binary with a positive_class"
        )
    return None


def _within(value: int, col: ColumnSpec) -> bool:
    return (col.min is None or value >= col.min) and (col.max is None or value <= col.max)


def _label_rate_problem(task: str, rate: Bounds | None) -> str | None:
    if rate is None:
        return None
    if task != "binary":
        return f"task {task} has no label rate (the share of positive labels): remove validation.label_rate" + (
            " and bound the label with its column's min and max" if task == "regression" else ""
        )
    if rate.min < 0 or rate.max > 1:
        return f"validation.label_rate is a share of rows: keep min and max within 0..1 (is {rate.min}..{rate.max})"
    return None


class DatasetSpec(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    schema_version: int = Field(ge=1)
    # The spec's format (SPEC_VERSION); 1, the default, is every spec written before the key existed.
    spec_version: int = Field(default=1, ge=1)
    description: str = ""
    source: SourceSpec
    id: str
    label: str
    timestamp: str
    segment: str | None = None
    columns: dict[str, ColumnSpec]
    validation: ValidationSpec
    # How naive and zoned timestamp values are read (TimestampRule); the default reads naive values as UTC.
    timestamps: TimestampRule = TimestampRule()
    # The supervised task the label defines, checked against the label column (binary by default, so a
    # spec with a 0/1 or true/false label and no task is what it always was). The trainer, the model
    # server and the drift check handle 0/1 binary labels only for now (require_binary_task).
    task: Task = Field(default="binary", validate_default=True)
    # binary: the label value that is the positive class (a category; 0 or 1; true or false). Required
    # for a categorical label; 1 for 0/1 integers and true for booleans when left out.
    positive_class: LabelValue | None = Field(default=None, validate_default=True)
    # multiclass: the classes, in their order (integers for an integer label; for a categorical label
    # its categories, the default when left out). At least 3: two classes are a binary task.
    classes: tuple[StrictInt | StrictStr, ...] | None = Field(default=None, validate_default=True)
    # Drift-check settings (tradewind.data.drift_spec); None: the defaults. Monitoring policy, not part of
    # the data contract, so it is left out of the fingerprint.
    drift: DriftConfig | None = None

    @field_validator("spec_version")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value > SPEC_VERSION:
            raise ValueError(
                f"spec_version {value} is newer than this Tradewind reads ({SPEC_VERSION}): upgrade Tradewind "
                "(CHANGELOG.md lists each format)"
            )
        return value

    @field_validator("task")
    @classmethod
    def _task_fits_label(cls, task: str, info: ValidationInfo) -> str:
        # Field validators (not a model one) so that each error names its key: task, positive_class, classes.
        label = _label_column(info.data)
        problem = LABEL_PROBLEMS[task](*label) if label else None
        validation = info.data.get("validation")
        problem = problem or _label_rate_problem(task, validation.label_rate if validation else None)
        if problem:
            raise ValueError(problem)
        return task

    @field_validator("positive_class")
    @classmethod
    def _check_positive_class(cls, value: LabelValue | None, info: ValidationInfo) -> LabelValue | None:
        task, label = info.data.get("task"), _label_column(info.data)
        if task is None or label is None:
            return value
        if task != "binary":
            if value is not None:
                raise ValueError(f"positive_class is for task binary, not {task}: remove it")
            return value
        problem = _positive_problem(value, *label)
        if problem:
            raise ValueError(problem)
        default = default_positive(label[1])
        # The default written out is the default left out: the same spec, the same fingerprint.
        return None if type(value) is type(default) and value == default else value

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: tuple[int | str, ...] | None, info: ValidationInfo) -> tuple[int | str, ...] | None:
        task, label = info.data.get("task"), _label_column(info.data)
        if task is None or label is None:
            return value
        if task != "multiclass":
            if value is not None:
                also = " (a binary task names its positive_class)" if task == "binary" else ""
                raise ValueError(f"classes is for task multiclass, not {task}: remove it{also}")
            return value
        problem = _classes_problem(value, *label)
        if problem:
            raise ValueError(problem)
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Keys a spec of the first format does not have dump only when set, so such a spec dumps (and
        # fingerprints) exactly as it did before they existed.
        data: dict[str, Any] = handler(self)
        for key, unset in (("spec_version", 1), ("positive_class", None), ("classes", None)):
            if key in data and data[key] == unset:
                del data[key]
        return data

    @field_validator("drift", mode="before")
    @classmethod
    def _check_drift(cls, value: Any, info: ValidationInfo) -> Any:
        # A field validator, so errors read ``drift.<key>``; the columns are checked by now (declared above).
        columns = info.data.get("columns")
        if value is None or columns is None or isinstance(value, DriftConfig):
            return value
        features = {n: c.type.value for n, c in columns.items() if c.role == ColumnRole.feature}
        return DriftConfig.model_validate(value, context={FEATURES_CONTEXT: features})

    @model_validator(mode="after")
    def _check_references(self) -> DatasetSpec:
        for key in ("id", "label", "timestamp", "segment"):
            col = getattr(self, key)
            if col is not None and col not in self.columns:
                raise ValueError(f"'{key}' names column '{col}', which is not under 'columns'")
        if self.columns[self.timestamp].type != ColumnType.timestamp:
            raise ValueError(f"'timestamp' column '{self.timestamp}' must have type timestamp")
        return self

    # -- views used by the other stages ------------------------------------------------------
    @property
    def feature_columns(self) -> list[str]:
        """Input columns of a model: every column that is not the id, key, label or timestamp."""
        return [c for c, s in self.columns.items() if s.role == ColumnRole.feature]

    @property
    def feature_types(self) -> dict[str, str]:
        """Each feature column, in spec order, with its type's name (what the drift section reads)."""
        return {c: s.type.value for c, s in self.columns.items() if s.role == ColumnRole.feature}

    @property
    def positive_label(self) -> LabelValue | None:
        """The positive class of a binary task (``positive_class`` or its default); None for another task."""
        if self.task != "binary":
            return None
        return self.positive_class if self.positive_class is not None else default_positive(self.columns[self.label])

    @property
    def label_values(self) -> tuple[LabelValue, ...] | None:
        """The values a label may take: binary ``(negative, positive)``, multiclass its classes in order;
        None for regression (a numeric target, bounded by its column's min and max)."""
        col = self.columns[self.label]
        if self.task == "regression":
            return None
        if self.task == "multiclass":
            return tuple(self.classes if self.classes is not None else col.categories or ())
        positive = self.positive_label
        both: tuple[LabelValue, ...] = {ColumnType.integer: (0, 1), ColumnType.boolean: (False, True)}.get(
            col.type, tuple(col.categories or ())
        )
        return (*(v for v in both if v != positive), positive) if positive is not None else both

    def columns_of(self, *types: ColumnType) -> list[str]:
        return [c for c, s in self.columns.items() if s.type in types]

    @property
    def fingerprint(self) -> str:
        """Stable hash of the spec's content (used to version suites and detect edits)."""
        # A spec that keeps the default time rule keeps the fingerprint it had before the rule existed.
        exclude = {"drift"} if self.timestamps != TimestampRule() else {"drift", "timestamps"}
        blob = json.dumps(self.model_dump(mode="json", exclude=exclude), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def require_binary_task(spec: DatasetSpec, consumer: str, error: type[Exception] = ConfigError) -> None:
    """Refuse, with ``error``, a spec that ``consumer`` (the trainer, the model server, the drift check)
    cannot handle yet: any task but binary, or a binary label other than 0/1 (or false/true) with 1
    (true) the positive class. Ingestion and validation handle every task; these stages refuse early
    rather than treat the label wrongly."""
    if spec.task != "binary":
        raise error(
            f"data set '{spec.name}': task {spec.task} is not supported by {consumer} yet (binary only); "
            "ingestion and validation do support it"
        )
    # (0, 1) == (False, True): a 0/1 or a true/false label whose positive class is 1 (true).
    if spec.label_values != (0, 1):
        raise error(
            f"data set '{spec.name}': label '{spec.label}' with positive_class {spec.positive_label!r} is not "
            f"supported by {consumer} yet: it reads a binary label as 0/1 (or false/true) with 1 (true) positive"
        )


def parse_spec(data: Mapping[str, Any], origin: str = "<spec>") -> DatasetSpec:
    """Check a spec given as a mapping; raise :class:`SpecError` naming every bad key."""
    return parse_config(DatasetSpec, data, origin, "dataset spec")


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> DatasetSpec:
    """Load and check one spec file, with optional overrides deep-merged on top."""
    path = Path(path)
    spec = load_config(DatasetSpec, path, "dataset spec", overrides=overrides)
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: '{spec.name}' must match the file name '{path.stem}'")
    return spec
