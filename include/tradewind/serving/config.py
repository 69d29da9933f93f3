"""The model server's settings: ``include/config/serving.yaml``, checked on load.

The file is read through the config base (:func:`tradewind.config.load_config`): a bad file raises
:class:`ServingConfigError` naming the file and every bad key, in the same format as dataset specs
and the promotion config. The admin token is a secret and is not here: it
comes from the environment variable named by ``contract.ADMIN_TOKEN_ENV``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from tradewind.config import CONFIG_DIR, ConfigError, StrictModel, load_config, parse_config

SERVING_CONFIG_FILE = "serving.yaml"
WHAT = "serving config"


class ServingConfigError(ConfigError):
    """``serving.yaml`` is malformed; the message names the file and the key."""


class InferenceLogConfig(StrictModel):
    """The background writer of scored records (see :mod:`tradewind.serving.inference_log`)."""

    enabled: bool = True
    flush_interval_s: float = Field(default=5.0, gt=0)
    flush_rows: int = Field(default=5000, ge=1)
    queue_capacity: int = Field(default=100_000, ge=1)


class AdmissionConfig(StrictModel):
    """The bound on scoring work in flight (see :mod:`tradewind.serving.admission`)."""

    enabled: bool = True
    # Requests admitted and not yet answered; one more is answered 503 with Retry-After at once.
    max_inflight_requests: int = Field(default=8, ge=1)
    # Records in those requests (a request alone is admitted whatever its size).
    max_inflight_records: int = Field(default=1000, ge=1)
    # The Retry-After a refused client is given (whole seconds, as HTTP writes it).
    retry_after_s: int = Field(default=1, ge=1, le=3600)


class ServingConfig(StrictModel):
    model_name: str = Field(default="transactions", min_length=1)
    # The data set the model scores: names the inference log's folder. Defaults to the model name.
    dataset: str = Field(default="transactions", pattern=r"^[a-z][a-z0-9_]*$")
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    max_batch_rows: int = Field(default=1000, ge=1)
    reload_interval_s: float = Field(default=10.0, gt=0)
    # Threads one prediction may use (XGBoost's nthread). Requests already score in parallel threads;
    # more per request only oversubscribes the cores (and spins) on the server's small batches.
    model_threads: int = Field(default=1, ge=1)
    # A request body up to this size is scored on the event loop: handing it to a worker thread costs
    # about a third of scoring one record. Larger ones go to a worker thread, where concurrent requests
    # share a model call. 0: every request in a worker thread.
    inline_max_bytes: int = Field(default=4096, ge=0)
    challenger_percent: int = Field(default=0, ge=0, le=100)
    shadow: bool = False
    inference_log: InferenceLogConfig = InferenceLogConfig()
    admission: AdmissionConfig = AdmissionConfig()

    @model_validator(mode="before")
    @classmethod
    def _default_dataset(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("dataset") and isinstance(data.get("model_name"), str):
            return {**data, "dataset": data["model_name"]}
        return data


def parse_serving_config(data: Any, origin: str = "<serving config>") -> ServingConfig:
    """Check a serving config given as a mapping; raise :class:`ServingConfigError` naming every bad key."""
    return parse_config(ServingConfig, data, origin, WHAT, error=ServingConfigError)


def load_serving_config(path: str | Path | None = None, **overrides: Any) -> ServingConfig:
    """Load and check ``serving.yaml`` (default: ``include/config/serving.yaml``), then apply overrides.

    Overrides are top-level keys (e.g. ``model_name`` from the command line); ``None`` values are ignored.
    """
    path = Path(path) if path is not None else CONFIG_DIR / SERVING_CONFIG_FILE
    given = {k: v for k, v in overrides.items() if v is not None}
    return load_config(ServingConfig, path, WHAT, error=ServingConfigError, overrides=given)
