"""The drift check's settings: the ``drift:`` section of a dataset spec, re-exported.

The models and the methods table live with the dataset spec they are part of, in
:mod:`tradewind.data.drift_spec` (the data layer, so the spec loader does not import monitoring
code). This module keeps the names where the drift check and the DAGs import them from.
"""

from __future__ import annotations

from tradewind.data.drift_spec import (
    DEFAULT_MAX_DROP,
    FEATURES_CONTEXT,
    KIND_OF_TYPE,
    METHODS,
    ColumnCheck,
    DriftConfig,
    DriftSubject,
    Kind,
    MethodInfo,
    MethodName,
    MethodsByType,
    MethodSpec,
    PerformanceMetric,
    PerformanceSettings,
    PredictionSettings,
    drift_config,
    methods_for,
)

__all__ = [
    "DEFAULT_MAX_DROP",
    "FEATURES_CONTEXT",
    "KIND_OF_TYPE",
    "METHODS",
    "ColumnCheck",
    "DriftConfig",
    "DriftSubject",
    "Kind",
    "MethodInfo",
    "MethodName",
    "MethodSpec",
    "MethodsByType",
    "PerformanceMetric",
    "PerformanceSettings",
    "PredictionSettings",
    "drift_config",
    "methods_for",
]
