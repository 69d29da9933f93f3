"""The canary's config: the shipped canary.yaml, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradewind.canary.config import (
    CanaryConfig,
    CanaryConfigError,
    SloConfig,
    load_canary_config,
    parse_canary_config,
)

pytestmark = pytest.mark.unit


def test_the_shipped_config_loads_with_its_documented_values() -> None:
    config = load_canary_config()
    assert config.stages == (10, 50, 100)
    assert (config.bake_seconds, config.min_requests) == (300, 200)
    assert (config.poll_interval_seconds, config.stage_timeout_seconds) == (30, 3600)
    assert config.slo == SloConfig(
        max_error_rate=0.01, max_p99_ratio=1.5, p99_slack_ms=5, max_score_psi=0.2, min_score_samples=500
    )
    assert config == CanaryConfig()  # the file states the defaults


@pytest.mark.parametrize(
    ("data", "key", "match"),
    [
        ({"stages": [50, 10, 100]}, "stages", "strictly ascending"),
        ({"stages": [10, 50]}, "stages", "last stage must be 100"),
        ({"stages": [0, 100]}, "stages", "1..100"),
        ({"stages": []}, "stages", "at least one stage"),
        ({"min_requests": 0}, "min_requests", "greater than or equal to 1"),
        ({"bake_seconds": -1}, "bake_seconds", "greater than or equal to 0"),
        ({"slo": {"max_error_rate": 2}}, "slo.max_error_rate", "less than or equal to 1"),
        ({"slo": {"max_p99_ratio": 0.5}}, "slo.max_p99_ratio", "greater than or equal to 1"),
        ({"slo": {"max_error_rat": 0.1}}, "slo.max_error_rat", "Extra inputs are not permitted"),
        ({"bake": 10}, "bake", "Extra inputs are not permitted"),
        ({"bake_seconds": 600, "stage_timeout_seconds": 60}, "stage_timeout_seconds", "at least bake_seconds"),
    ],
)
def test_bad_config_errors_name_the_file_and_the_key(
    tmp_path: Path, data: dict[str, Any], key: str, match: str
) -> None:
    import yaml

    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(CanaryConfigError) as err:
        load_canary_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid canary config")
    assert key in message, message
    assert match in message, message


def test_config_file_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CanaryConfigError, match=r"missing\.yaml: canary config file not found"):
        load_canary_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [10, 50\n", encoding="utf-8")
    with pytest.raises(CanaryConfigError, match=r"bad\.yaml: not valid YAML"):
        load_canary_config(bad)
    with pytest.raises(CanaryConfigError, match="must be a mapping"):
        parse_canary_config([10, 50, 100], origin="x.yaml")


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_canary_config(path) == CanaryConfig()
