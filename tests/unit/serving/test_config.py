"""serving.yaml: the shipped file loads with the documented defaults; mistakes name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewind.serving.config import ServingConfigError, load_serving_config

pytestmark = pytest.mark.unit


def test_the_shipped_config_has_the_documented_defaults():
    config = load_serving_config()
    assert (config.model_name, config.dataset) == ("transactions", "transactions")
    assert config.max_body_bytes == 1 << 20
    assert config.max_batch_rows == 1000
    assert config.reload_interval_s == 10
    assert config.challenger_percent == 0
    assert config.shadow is False
    assert config.inference_log.enabled
    assert config.inference_log.queue_capacity > config.inference_log.flush_rows


def test_overrides_and_an_empty_file(tmp_path: Path):
    empty = tmp_path / "serving.yaml"
    empty.write_text("# nothing set\n")
    assert load_serving_config(empty, model_name="payments").dataset == "payments"
    assert load_serving_config(empty, model_name=None).model_name == "transactions"


def test_a_bad_key_is_named_with_the_file(tmp_path: Path):
    path = tmp_path / "serving.yaml"
    path.write_text("max_batch_rows: 0\nchallenger_percent: 120\ninference_log: {flush_rows: many, color: red}\n")
    with pytest.raises(ServingConfigError) as err:
        load_serving_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid serving config")
    for key in ("max_batch_rows", "challenger_percent", "inference_log.flush_rows", "inference_log.color"):
        assert f"  {key}: " in message


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path):
    with pytest.raises(ServingConfigError, match="serving config file not found"):
        load_serving_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    with pytest.raises(ServingConfigError, match="not valid YAML"):
        load_serving_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(ServingConfigError, match="must be a mapping"):
        load_serving_config(listed)


def test_the_serving_config_is_read_through_the_config_base(tmp_path: Path):
    from tradewind.config import ConfigError, StrictModel
    from tradewind.serving.config import InferenceLogConfig, ServingConfig

    assert issubclass(ServingConfigError, ConfigError)
    assert issubclass(ServingConfig, StrictModel)
    assert issubclass(InferenceLogConfig, StrictModel)
    path = tmp_path / "serving.yaml"
    path.write_text("model_name: fraud\ninference_log: {flush_rows: 10}\n")
    config = load_serving_config(path, dataset="payments", max_batch_rows=None)
    assert (config.model_name, config.dataset, config.max_batch_rows) == ("fraud", "payments", 1000)
    assert config.inference_log.flush_rows == 10
