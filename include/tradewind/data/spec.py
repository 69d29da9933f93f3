"""Dataset specs: the one description of a data set that every stage reads.

A spec is a YAML file under ``include/config/datasets``. It names the source, the id, label,
timestamp and segment columns, every column with its type and bounds, and the validation
thresholds. Loading checks it completely; a bad spec raises :class:`SpecError` naming the file,
the key and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from tradewind.monitoring.config import FEATURES_CONTEXT, DriftConfig


class SpecError(ValueError):
    """A dataset spec (or profile) is malformed. The message names the file and the key."""


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    type: ColumnType
    nullable: bool = False
    role: ColumnRole = ColumnRole.feature
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None

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


class SyntheticOptions(_Strict):
    seed: int = 7
    rows_per_day: int = Field(default=20000, gt=0)
    customers: int = Field(default=50000, gt=0)


class FileOptions(_Strict):
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


class SourceSpec(_Strict):
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


class Bounds(_Strict):
    min: float
    max: float

    @model_validator(mode="after")
    def _check(self) -> Bounds:
        if self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class FreshnessSpec(_Strict):
    tolerance_hours: float = Field(default=1.0, ge=0)


class ValidationSpec(_Strict):
    row_count: Bounds
    label_rate: Bounds | None = None
    freshness: FreshnessSpec = FreshnessSpec(tolerance_hours=1.0)
    unique_id: bool = True


class DatasetSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    schema_version: int = Field(ge=1)
    description: str = ""
    source: SourceSpec
    id: str
    label: str
    timestamp: str
    segment: str | None = None
    columns: dict[str, ColumnSpec]
    validation: ValidationSpec
    # Drift-check settings (tradewind.monitoring.config); None: the defaults. Monitoring policy, not part of
    # the data contract, so it is left out of the fingerprint.
    drift: DriftConfig | None = None

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
        if self.columns[self.label].type not in (ColumnType.integer, ColumnType.boolean):
            raise ValueError(f"'label' column '{self.label}' must be integer (0/1) or boolean")
        return self

    # -- views used by the other stages ------------------------------------------------------
    @property
    def feature_columns(self) -> list[str]:
        """Input columns of a model: every column that is not the id, key, label or timestamp."""
        return [c for c, s in self.columns.items() if s.role == ColumnRole.feature]

    def columns_of(self, *types: ColumnType) -> list[str]:
        return [c for c, s in self.columns.items() if s.type in types]

    @property
    def fingerprint(self) -> str:
        """Stable hash of the spec's content (used to version suites and detect edits)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"drift"}), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def format_validation_error(origin: str, err: ValidationError, what: str) -> str:
    """One line per bad key: ``  <key.path>: <what is wrong> (got <value>)``, under the file name."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<top level>"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = f" (got {got!r})" if e["type"] not in ("missing",) and not isinstance(got, dict) else ""
        lines.append(f"  {loc}: {msg}{shown}")
    return f"{origin}: invalid {what}\n" + "\n".join(lines)


def read_yaml(path: Path, what: str, error: type[SpecError] = SpecError) -> Any:
    """A config file's YAML; a missing file or bad YAML raises ``error`` naming the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from None


def parse_spec(data: Mapping[str, Any], origin: str = "<spec>") -> DatasetSpec:
    """Check a spec given as a mapping; raise :class:`SpecError` naming every bad key."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{origin}: a dataset spec must be a mapping, got {type(data).__name__}")
    try:
        return DatasetSpec.model_validate(dict(data))
    except ValidationError as err:
        raise SpecError(format_validation_error(origin, err, "dataset spec")) from None


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> DatasetSpec:
    """Load and check one spec file, with optional overrides deep-merged on top."""
    path = Path(path)
    raw = read_yaml(path, "dataset spec")
    if overrides:
        raw = deep_merge(raw or {}, overrides)
    spec = parse_spec(raw, origin=str(path))
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: '{spec.name}' must match the file name '{path.stem}'")
    return spec


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
