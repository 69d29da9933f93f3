"""The canary's configuration: ``include/config/canary.yaml``, its models and its loader.

:class:`CanaryConfig` says how the challenger's traffic moves (``stages``, 10% -> 50% -> 100% by
default) and how long each stage bakes (``bake_seconds``, ``min_requests``, polled every
``poll_interval_seconds``, given up after ``stage_timeout_seconds``); :class:`SloConfig` (its
``slo`` key) holds the limits :mod:`tradewind.canary.verdict` judges a stage against.

The file is read through the config base (:func:`tradewind.config.load_config`): unknown keys are
refused, and a bad file raises :class:`CanaryConfigError` naming the file and every bad key.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from tradewind.config import CONFIG_DIR, ConfigError, StrictModel, load_config, parse_config

__all__ = [
    "CONFIG_FILE",
    "CanaryConfig",
    "CanaryConfigError",
    "SloConfig",
    "get_canary_config",
    "load_canary_config",
    "parse_canary_config",
]

CONFIG_FILE = "canary.yaml"
WHAT = "canary config"


class SloConfig(StrictModel):
    """The limits a stage is judged against (``slo:`` in ``canary.yaml``)."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    # Requests the server refused (admission control: overloaded) / requests routed to the challenger.
    # Judged apart from the error rate: a refused request never reached a model.
    max_shed_rate: float = Field(default=0.05, ge=0, le=1)
    max_p99_ratio: float = Field(default=1.5, ge=1)
    p99_slack_ms: float = Field(default=5.0, ge=0)
    min_latency_samples: int = Field(default=100, ge=1)
    max_score_psi: float = Field(default=0.2, gt=0)
    min_score_samples: int = Field(default=500, ge=1)


class CanaryConfig(StrictModel):
    """The stages of a rollout, how each one bakes, and the SLOs it must meet."""

    stages: tuple[int, ...] = (10, 50, 100)
    bake_seconds: float = Field(default=300, ge=0)
    min_requests: int = Field(default=200, ge=1)
    poll_interval_seconds: float = Field(default=30, gt=0)
    stage_timeout_seconds: float = Field(default=3600, gt=0)
    slo: SloConfig = SloConfig()

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: tuple[int, ...]) -> tuple[int, ...]:
        if not stages:
            raise ValueError("needs at least one stage (the last must be 100)")
        if any(not 0 < s <= 100 for s in stages):
            raise ValueError("every stage is a challenger percent in 1..100")
        if any(b <= a for a, b in pairwise(stages)):
            raise ValueError("stages must be strictly ascending")
        if stages[-1] != 100:
            raise ValueError("the last stage must be 100 (the challenger takes all traffic before promotion)")
        return stages

    @model_validator(mode="after")
    def _timings(self) -> CanaryConfig:
        if self.stage_timeout_seconds < self.bake_seconds:
            raise ValueError(
                f"stage_timeout_seconds ({self.stage_timeout_seconds:g}) must be at least "
                f"bake_seconds ({self.bake_seconds:g}): a stage could never finish baking"
            )
        if self.poll_interval_seconds > self.stage_timeout_seconds:
            raise ValueError(
                f"poll_interval_seconds ({self.poll_interval_seconds:g}) must not exceed "
                f"stage_timeout_seconds ({self.stage_timeout_seconds:g})"
            )
        return self


class CanaryConfigError(ConfigError):
    """``canary.yaml`` is malformed; the message names the file and the key."""


def parse_canary_config(data: Any, origin: str = "<canary config>") -> CanaryConfig:
    """Check a canary config given as a mapping (the file's content, or a form's overrides on it)."""
    return parse_config(CanaryConfig, data, origin, WHAT, error=CanaryConfigError)


def load_canary_config(path: str | Path | None = None) -> CanaryConfig:
    """Load and check ``canary.yaml`` (default: ``include/config/canary.yaml``)."""
    return load_config(CanaryConfig, CONFIG_DIR / CONFIG_FILE if path is None else path, WHAT, error=CanaryConfigError)


@lru_cache(maxsize=1)
def get_canary_config() -> CanaryConfig:
    """The canary config of this process (read once)."""
    return load_canary_config()
