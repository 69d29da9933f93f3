"""Dataset specs: the one description of a data set that every stage reads.

A spec is a YAML file under ``include/config/datasets``. It names the source, the id, label,
timestamp and segment columns, every column with its type and bounds, and the validation
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


class DatasetSpec(StrictModel):
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
    # How naive and zoned timestamp values are read (TimestampRule); the default reads naive values as UTC.
    timestamps: TimestampRule = TimestampRule()
    # The supervised task the label defines. Only binary classification exists today; the field is
    # here so that other tasks extend the spec, the stages' outcomes and the model record.
    task: Literal["binary"] = "binary"
    # Drift-check settings (tradewind.data.drift_spec); None: the defaults. Monitoring policy, not part of
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

    @property
    def feature_types(self) -> dict[str, str]:
        """Each feature column, in spec order, with its type's name (what the drift section reads)."""
        return {c: s.type.value for c, s in self.columns.items() if s.role == ColumnRole.feature}

    def columns_of(self, *types: ColumnType) -> list[str]:
        return [c for c, s in self.columns.items() if s.type in types]

    @property
    def fingerprint(self) -> str:
        """Stable hash of the spec's content (used to version suites and detect edits)."""
        # A spec that keeps the default time rule keeps the fingerprint it had before the rule existed.
        exclude = {"drift"} if self.timestamps != TimestampRule() else {"drift", "timestamps"}
        blob = json.dumps(self.model_dump(mode="json", exclude=exclude), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


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
