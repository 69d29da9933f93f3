"""The bottom of the core: how every configuration file is read and checked.

One strict model base (:class:`StrictModel`: unknown keys are refused, values are frozen), one YAML
loader (:func:`read_yaml`), one merge rule for overrides (:func:`deep_merge`) and one error type
(:class:`ConfigError`) whose message names the file and every bad key. Profiles, dataset specs,
``promotion.yaml``, ``canary.yaml``, ``serving.yaml`` and ``gpu_profiles.yaml`` are all read through
:func:`load_config` / :func:`parse_config`; ``tradewind.settings`` is where the rest of the code
reaches them.

Where they live is here too: :data:`REPO_ROOT` (the checkout) and :data:`CONFIG_DIR`
(``include/config``, or ``TRADEWIND_CONFIG_DIR``), so that a layer low in the core finds its file
without importing ``tradewind.settings``.

Nothing here knows what any of those files mean: this module imports nothing of the project.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(os.environ.get("TRADEWIND_CONFIG_DIR", REPO_ROOT / "include" / "config"))


class ConfigError(ValueError):
    """A configuration file (or a mapping standing for one) is malformed.

    The message starts with the file (or origin) and names each bad key: ``<file>: <key.path>: <why>``.
    Every config error of the project is this type or a subclass of it.
    """


class StrictModel(BaseModel):
    """The base of every configuration model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def read_yaml(path: str | Path, what: str, error: type[ConfigError] = ConfigError) -> Any:
    """A config file's YAML; a missing file or bad YAML raises ``error`` naming the file."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from None


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` on top: mappings merge key by key, anything else in ``top`` replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def validation_problems(err: ValidationError) -> list[tuple[str, str]]:
    """Each error of ``err`` as ``(key.path, what is wrong (got <value>))``, in pydantic's order."""
    problems = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<top level>"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = f" (got {_short(got)})" if e["type"] != "missing" and not isinstance(got, dict) else ""
        problems.append((loc, f"{msg}{shown}"))
    return problems


def format_problems(header: str, problems: list[tuple[str, str]]) -> str:
    """``header`` then one indented line per bad key: ``  <key.path>: <what is wrong>``."""
    return header + "".join(f"\n  {key}: {why}" for key, why in problems)


def format_validation_error(origin: str, err: ValidationError, what: str) -> str:
    """One line per bad key: ``  <key.path>: <what is wrong> (got <value>)``, under the file name."""
    return format_problems(f"{origin}: invalid {what}", validation_problems(err))


def _short(value: Any, limit: int = 200) -> str:
    """A value as it appears in an error, cut so that one huge value cannot flood a log."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_config(
    model: type[M],
    data: Any,
    origin: str,
    what: str,
    *,
    error: type[ConfigError] = ConfigError,
    context: Mapping[str, Any] | None = None,
) -> M:
    """Check a mapping against ``model``; raise ``error`` naming ``origin`` and every bad key."""
    if not isinstance(data, Mapping):
        raise error(f"{origin}: {what} must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(dict(data), context=dict(context) if context else None)
    except ValidationError as err:
        raise error(format_validation_error(origin, err, what)) from None


def load_config(
    model: type[M],
    path: str | Path,
    what: str,
    *,
    error: type[ConfigError] = ConfigError,
    overrides: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> M:
    """Read, merge ``overrides`` onto, and check one config file. An empty file stands for ``{}``."""
    raw = read_yaml(path, what, error)
    if raw is None:
        raw = {}
    if overrides and isinstance(raw, Mapping):
        raw = deep_merge(raw, overrides)
    return parse_config(model, raw, str(path), what, error=error, context=context)
