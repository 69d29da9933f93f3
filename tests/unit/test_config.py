"""The config base: one strict model, one loader, one error type naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from tradewind.config import (
    CONFIG_DIR,
    REPO_ROOT,
    ConfigError,
    StrictModel,
    deep_merge,
    load_config,
    parse_config,
)

pytestmark = pytest.mark.unit


class Inner(StrictModel):
    size: int = Field(default=1, ge=1)


class Example(StrictModel):
    name: str = "x"
    inner: Inner = Inner()


class ExampleError(ConfigError):
    """The error of the example file."""


def test_the_config_dir_is_in_the_checkout():
    assert (REPO_ROOT / "include" / "tradewind" / "config.py").is_file()
    assert (CONFIG_DIR / "promotion.yaml").is_file()


def test_unknown_keys_are_refused_and_models_are_frozen():
    with pytest.raises(ConfigError) as err:
        parse_config(Example, {"nmae": "y", "inner": {"size": 0}}, "example.yaml", "example config")
    lines = str(err.value).splitlines()
    assert lines[0] == "example.yaml: invalid example config"
    assert any(line.startswith("  nmae: Extra inputs are not permitted") for line in lines)
    assert any(line.startswith("  inner.size: Input should be greater than or equal to 1 (got 0)") for line in lines)
    config = parse_config(Example, {}, "example.yaml", "example config")
    with pytest.raises(ValueError, match="frozen"):
        config.name = "z"  # type: ignore[misc]


def test_a_huge_value_is_cut_in_the_message():
    with pytest.raises(ConfigError) as err:
        parse_config(Example, {"inner": {"size": "a" * 10_000}}, "example.yaml", "example config", error=ExampleError)
    assert err.type is ExampleError
    assert "... (10002 characters)" in str(err.value)
    assert len(str(err.value)) < 1000


def test_load_config_merges_overrides_and_reads_an_empty_file_as_the_defaults(tmp_path: Path):
    path = tmp_path / "example.yaml"
    path.write_text("name: file\ninner: {size: 2}\n", encoding="utf-8")
    config = load_config(Example, path, "example config", overrides={"inner": {"size": 3}})
    assert (config.name, config.inner.size) == ("file", 3)
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_config(Example, path, "example config") == Example()


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "example config file not found"), ("a: [\n", "not valid YAML"), ("- 1\n", "must be a mapping, got list")],
)
def test_a_bad_file_raises_the_given_error_naming_the_file(tmp_path: Path, text: str | None, message: str):
    path = tmp_path / "example.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ExampleError, match=message) as err:
        load_config(Example, path, "example config", error=ExampleError)
    assert str(err.value).startswith(f"{path}: ")


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [2]}, "e": 2}) == {"a": {"b": 1, "c": [2]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}  # the base is left alone


def test_every_config_error_of_the_project_is_a_config_error():
    from tradewind.data.spec import SpecError
    from tradewind.k8s.profiles import ProfileError
    from tradewind.registry.gate import GateConfigError
    from tradewind.serving.config import ServingConfigError

    assert SpecError is ConfigError
    for error in (ProfileError, GateConfigError, ServingConfigError):
        assert issubclass(error, ConfigError)


def test_the_config_base_imports_nothing_of_the_project():
    code = "import sys, tradewind.config; print(sorted(m for m in sys.modules if m.startswith('tradewind.')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip() == "['tradewind.config']"
