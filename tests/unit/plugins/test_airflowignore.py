"""plugins/.airflowignore: Airflow's plugin loader imports plugin modules and nothing else.

The loader imports every ``.py`` file of the plugins folder that ``.airflowignore`` leaves, in every
Airflow process, as a top-level module named after the file. ``tradewind_airflow`` is installed and
imported normally, so only a file that defines an ``AirflowPlugin`` may be left to the loader. The
files are found as the loader finds them, in both pattern syntaxes of ``[core] dag_ignore_file_syntax``.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
SYNTAXES = ("glob", "regexp")
PLUGIN_MODULE = "from airflow.plugins_manager import AirflowPlugin\n\n\nclass UI(AirflowPlugin):\n    name = 'ui'\n"


def _loaded(folder: Path, syntax: str) -> list[Path]:
    """The ``.py`` files the plugin loader would import from ``folder``."""
    from airflow._shared.module_loading import find_path_from_directory

    found = (Path(p) for p in find_path_from_directory(folder, ".airflowignore", syntax))
    return sorted(p for p in found if p.suffix == ".py")


def _stray(folder: Path, syntax: str) -> list[str]:
    """The files the loader would import from ``folder`` that define no ``AirflowPlugin``."""
    return [str(p.relative_to(folder)) for p in _loaded(folder, syntax) if not _defines_a_plugin(p)]


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    shutil.copytree(PLUGINS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _defines_a_plugin(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if "AirflowPlugin" in bases:
                return True
    return False


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_the_loader_imports_only_plugin_modules(syntax: str) -> None:
    modules = [p for p in (PLUGINS / "tradewind_airflow").rglob("*.py") if "__pycache__" not in p.parts]
    assert modules, "no modules under plugins/tradewind_airflow"
    stray = _stray(PLUGINS, syntax)
    assert not stray, f"not plugin modules, list them in plugins/.airflowignore: {stray}"


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_new_module_left_off_the_list_is_caught(syntax: str, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "tradewind_airflow" / "helpers.py").write_text("X = 1\n")

    assert _stray(folder, syntax) == ["tradewind_airflow/helpers.py"]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_plugin_module_at_the_package_top_level_is_still_loaded(syntax: str, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    plugin = folder / "tradewind_airflow" / "plugin.py"
    plugin.write_text(PLUGIN_MODULE)

    assert _loaded(folder, syntax) == [plugin]
    assert not _stray(folder, syntax)
