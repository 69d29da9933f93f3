"""Drift settings of a data set: the optional ``drift:`` section of its spec, with defaults.

A spec without the section gets :class:`DriftConfig`'s defaults; a spec with it is checked when it is
loaded (``load_spec``), and a bad key raises :class:`~tradewind.config.ConfigError` naming the file and
the key, like every other spec error (``drift.methods.categorical.method: ...``)::

    drift:
      methods:                 # per column type of the spec: numeric, integer, categorical, boolean
        numeric: {method: wasserstein, threshold: 0.1}
        categorical: {method: jensenshannon, threshold: 0.1}
      columns:                 # per-column overrides (feature columns only)
        amount: {method: psi, threshold: 0.2}
      exclude: [customer_age_days]
      drift_share: 0.3         # share of drifted features that makes the data set drifted
      max_unknown_category_share: 0.01  # more values outside a column's categories: drifted too
      min_window_rows: 500     # a smaller window (or reference) is skipped, never alarmed on
      max_rows: 100000         # bounded, seeded sampling of the current window and of the reference
      seed: 0
      prediction: {column: score, method: wasserstein, threshold: 0.1, counts_as_drift: true}
      performance: {min_labelled_rows: 1000, min_positives: 30, label_delay_hours: 0,
                    max_drop: {pr_auc: 0.1, roc_auc: 0.05}}

Methods are Evidently's stat tests, by name. A *distance* (``wasserstein``, ``jensenshannon``, ``psi``,
``hellinger``, ``kl_div``) flags drift when it is at or above its threshold; a *p-value* test (``ks``,
``chisquare``, ``mannw``) when the p-value is below it. Distances are the defaults because a p-value
test finds "significant" drift in any tiny shift once a window holds tens of thousands of rows.

This module is part of the dataset spec, so it lives in the data layer: pure pydantic (no Evidently, no
pandas) and nothing of the project but :mod:`tradewind.config`. It does not import the spec module
either (the spec imports it): what it reads of a spec is :class:`DriftSubject`. The drift check
(:mod:`tradewind.monitoring`) reads these settings; :mod:`tradewind.monitoring.config` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tradewind.config import StrictModel

MethodName = Literal["wasserstein", "ks", "psi", "jensenshannon", "hellinger", "kl_div", "chisquare", "mannw"]
Kind = Literal["numerical", "categorical"]
# Per task: binary pr_auc, roc_auc; multiclass macro_f1, accuracy; regression rmse, mae.
PerformanceMetric = Literal["pr_auc", "roc_auc", "macro_f1", "accuracy", "rmse", "mae"]

# Context key the spec loader passes: {feature column: spec type} (see DatasetSpec._check_drift).
FEATURES_CONTEXT: Final = "feature_columns"


@dataclass(frozen=True)
class MethodInfo:
    """What Tradewind knows of an Evidently stat test (checked against evidently 0.7's registry)."""

    test: Literal["distance", "p_value"]
    kinds: frozenset[str]
    default_threshold: float


METHODS: Final[dict[str, MethodInfo]] = {
    "wasserstein": MethodInfo("distance", frozenset({"numerical"}), 0.1),
    "ks": MethodInfo("p_value", frozenset({"numerical"}), 0.05),
    "mannw": MethodInfo("p_value", frozenset({"numerical"}), 0.05),
    "psi": MethodInfo("distance", frozenset({"numerical", "categorical"}), 0.1),
    "jensenshannon": MethodInfo("distance", frozenset({"numerical", "categorical"}), 0.1),
    "hellinger": MethodInfo("distance", frozenset({"numerical", "categorical"}), 0.1),
    "kl_div": MethodInfo("distance", frozenset({"numerical", "categorical"}), 0.1),
    "chisquare": MethodInfo("p_value", frozenset({"categorical"}), 0.05),
}
# How each spec column type is compared (Evidently's column kinds); other types are not drift-checked.
KIND_OF_TYPE: Final[dict[str, Kind]] = {
    "numeric": "numerical",
    "integer": "numerical",
    "categorical": "categorical",
    "boolean": "categorical",
}


def methods_for(kind: str) -> list[str]:
    return [name for name, info in METHODS.items() if kind in info.kinds]


def _check_method_for(method: str | None, spec_type: str) -> None:
    kind = KIND_OF_TYPE.get(spec_type)
    if kind is None:
        raise ValueError(f"{spec_type} columns are not drift-checked (only {', '.join(KIND_OF_TYPE)})")
    if method is not None and kind not in METHODS[method].kinds:
        raise ValueError(
            f"method '{method}' does not apply to {spec_type} columns (use one of: {', '.join(methods_for(kind))})"
        )


def _check_threshold(method: str, threshold: float | None) -> None:
    if threshold is not None and METHODS[method].test == "p_value" and threshold >= 1:
        raise ValueError(
            f"threshold {threshold:g} of '{method}' is a p-value bound: drift is flagged when the p-value is "
            f"below it, so it must be below 1 (default {METHODS[method].default_threshold:g})"
        )


class MethodSpec(StrictModel):
    """A stat test and its threshold; either may be left out (the type's method, the method's default)."""

    method: MethodName | None = None
    threshold: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_bound(self) -> MethodSpec:
        if self.method is not None:
            _check_threshold(self.method, self.threshold)
        return self


def _resolve(base: MethodSpec, override: MethodSpec | None) -> tuple[str, float]:
    """The method and threshold a column gets: its override on top of its type's setting."""
    method = (override.method if override is not None else None) or base.method
    if method is None:  # MethodsByType always has a method; only a hand-made MethodSpec() lands here
        raise ValueError("no drift method given")
    threshold = override.threshold if override is not None else None
    if threshold is None and (override is None or override.method in (None, base.method)):
        threshold = base.threshold  # the type's threshold belongs to the type's method only
    return method, threshold if threshold is not None else METHODS[method].default_threshold


class MethodsByType(StrictModel):
    numeric: MethodSpec = MethodSpec(method="wasserstein", threshold=0.1)
    integer: MethodSpec = MethodSpec(method="wasserstein", threshold=0.1)
    categorical: MethodSpec = MethodSpec(method="jensenshannon", threshold=0.1)
    boolean: MethodSpec = MethodSpec(method="jensenshannon", threshold=0.1)

    @field_validator("numeric", "integer", "categorical", "boolean", mode="after")
    @classmethod
    def _check(cls, value: MethodSpec, info: ValidationInfo) -> MethodSpec:
        assert info.field_name is not None
        _check_method_for(value.method, info.field_name)
        default = cls.model_fields[info.field_name].default
        if value.method is None:  # {threshold: 0.2} keeps the type's method
            value = MethodSpec(method=default.method, threshold=value.threshold)
        return value


class PredictionSettings(StrictModel):
    """Drift of the model's output (the inference log's ``score``) against the reference's scores."""

    enabled: bool = True
    # The column the inference log and the reference keep the model's output in; it is named here
    # for the summary, and no other column holds a score.
    column: Literal["score"] = "score"
    method: MethodName = "wasserstein"
    # None: the method's default (0.1 for a distance, 0.05 for a p-value test).
    threshold: float | None = Field(default=None, gt=0)
    # A drifted score distribution makes the data set drifted even when few features moved.
    counts_as_drift: bool = True

    @field_validator("method")
    @classmethod
    def _numeric_method(cls, method: str) -> str:
        _check_method_for(method, "numeric")
        return method

    @model_validator(mode="after")
    def _check_bound(self) -> PredictionSettings:
        _check_threshold(self.method, self.threshold)
        return self

    @property
    def resolved_threshold(self) -> float:
        return self.threshold if self.threshold is not None else METHODS[self.method].default_threshold


DEFAULT_MAX_DROP: Final[dict[PerformanceMetric, float]] = {"pr_auc": 0.1, "roc_auc": 0.05}


class PerformanceSettings(StrictModel):
    """Performance drift, once labels arrive: the logged scores against the champion's validation metrics."""

    min_labelled_rows: int = Field(default=1000, ge=1)
    min_positives: int = Field(default=30, ge=1)
    # How long labels take to arrive. With a delay, the performance check judges the traffic served
    # this many hours before the drift window (same length), whose labels are in by then; 0: the drift
    # window itself (labels that arrive with the data).
    label_delay_hours: float = Field(default=0, ge=0, le=24 * 31)
    # Largest allowed drop (champion's validation value minus the labelled window's), absolute; for an
    # error (rmse, mae: lower is better) the largest allowed rise as a share of the champion's value. A
    # task compares the metrics named here that are its own, else its primary metric's default drop.
    max_drop: dict[PerformanceMetric, float] = Field(default_factory=lambda: dict(DEFAULT_MAX_DROP))

    @field_validator("max_drop")
    @classmethod
    def _check_drops(cls, drops: dict[str, float]) -> dict[str, float]:
        if not drops:
            raise ValueError("name at least one metric (pr_auc, roc_auc, macro_f1, accuracy, rmse, mae)")
        bad = {k: v for k, v in drops.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"drops must be between 0 and 1, got {bad}")
        return drops


class DriftSubject(Protocol):
    """What the drift settings read of a data set (:class:`~tradewind.data.spec.DatasetSpec` is one)."""

    @property
    def feature_types(self) -> Mapping[str, str]:
        """Each feature column, in spec order, with its spec type (``numeric``, ``categorical``, ...)."""
        ...

    @property
    def drift(self) -> DriftConfig | None: ...


@dataclass(frozen=True)
class ColumnCheck:
    """How one feature column is compared (resolved from the type's setting and its override)."""

    column: str
    type: str  # the spec's column type
    kind: Kind  # Evidently's column kind
    method: str
    threshold: float

    @property
    def test(self) -> str:
        return METHODS[self.method].test


class DriftConfig(StrictModel):
    methods: MethodsByType = MethodsByType()
    columns: dict[str, MethodSpec] = Field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    drift_share: float = Field(default=0.3, gt=0, le=1)
    # A categorical feature whose window holds more than this share of values outside the spec's
    # categories (values the model never saw) makes the data set drifted; None: not checked.
    max_unknown_category_share: float | None = Field(default=0.01, ge=0, le=1)
    min_window_rows: int = Field(default=500, ge=1)
    # The scheduled check looks at the last this many hours of the inference log (the form can change it).
    window_hours: float = Field(default=24, gt=0, le=24 * 31)
    max_rows: int = Field(default=100_000, ge=1)
    seed: int = 0
    prediction: PredictionSettings = PredictionSettings()
    performance: PerformanceSettings = PerformanceSettings()

    @field_validator("columns", mode="after")
    @classmethod
    def _check_columns(cls, columns: dict[str, MethodSpec], info: ValidationInfo) -> dict[str, MethodSpec]:
        features = _features(info)
        if features is None:
            return columns
        for name, override in columns.items():
            if name not in features:
                raise ValueError(
                    f"'{name}' is not a feature column of the spec (feature columns: {', '.join(features)})"
                )
            try:
                _check_method_for(override.method, features[name])
                methods = info.data.get("methods")
                if override.method is None and isinstance(methods, MethodsByType):  # the type's method
                    _check_threshold(_resolve(getattr(methods, features[name]), override)[0], override.threshold)
            except ValueError as err:
                raise ValueError(f"'{name}': {err}") from None
        return columns

    @field_validator("exclude", mode="after")
    @classmethod
    def _check_exclude(cls, exclude: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        features = _features(info)
        unknown = [n for n in exclude if features is not None and n not in features]
        if unknown:
            raise ValueError(f"not feature column(s) of the spec: {', '.join(map(repr, unknown))}")
        return exclude

    @model_validator(mode="after")
    def _check_sizes(self) -> DriftConfig:
        if self.max_rows < self.min_window_rows:
            raise ValueError(f"'max_rows' ({self.max_rows}) is below 'min_window_rows' ({self.min_window_rows})")
        return self

    def checks(self, spec: DriftSubject) -> list[ColumnCheck]:
        """The feature columns of ``spec`` that are drift-checked, in spec order, with their method."""
        out = []
        for name, spec_type in spec.feature_types.items():
            kind = KIND_OF_TYPE.get(spec_type)
            if kind is None or name in self.exclude:
                continue
            method, threshold = _resolve(getattr(self.methods, spec_type), self.columns.get(name))
            out.append(ColumnCheck(column=name, type=spec_type, kind=kind, method=method, threshold=threshold))
        return out

    def unchecked(self, spec: DriftSubject) -> dict[str, str]:
        """Feature columns that are not drift-checked, with why."""
        out = {}
        for name, spec_type in spec.feature_types.items():
            if name in self.exclude:
                out[name] = "excluded in drift.exclude"
            elif spec_type not in KIND_OF_TYPE:
                out[name] = f"{spec_type} columns are not drift-checked"
        return out


def _features(info: ValidationInfo) -> Mapping[str, str] | None:
    context: Any = info.context
    return context.get(FEATURES_CONTEXT) if isinstance(context, Mapping) else None


def drift_config(spec: DriftSubject) -> DriftConfig:
    """The drift settings of ``spec``: its ``drift:`` section, or the defaults."""
    return spec.drift if spec.drift is not None else DriftConfig()
