"""Fixtures of the unit tier: the shipped spec, a small spec, a ``files``-source spec factory, and one real
SQLite-backed MLflow store per session (``store``, ``client``; used by the registry and serving tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.helpers import SMALL_ROWS, SPEC_PATH, spec_dict, write_spec
from tradewind.data.spec import DatasetSpec, load_spec

if TYPE_CHECKING:
    from mlflow import MlflowClient


@pytest.fixture(scope="session")
def shipped_spec() -> DatasetSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="session")
def small_spec() -> DatasetSpec:
    """The shipped spec with a small synthetic day (fast to generate, ingest and validate)."""
    return load_spec(SPEC_PATH, overrides={"source": {"options": {"rows_per_day": SMALL_ROWS}}})


@pytest.fixture
def files_spec(tmp_path: Path) -> Callable[..., DatasetSpec]:
    """``make(fmt, name=None, **options)``: a ``files`` spec reading ``<tmp>/inbox/<name>/{date}/*.<fmt>``.

    Built from the shipped transactions spec and loaded with ``load_spec`` from ``<name>.yaml``.
    """

    def make(fmt: str = "parquet", name: str | None = None, **options: Any) -> DatasetSpec:
        data = spec_dict()
        data["name"] = name or f"inbox_{fmt}"
        uri = f"file://{tmp_path}/inbox/{data['name']}/{{date}}/*.{fmt}"
        data["source"] = {"kind": "files", "options": {"uri": uri, "format": fmt, **options}}
        return load_spec(write_spec(tmp_path / "specs", data))

    return make


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tracking URI of a SQLite MLflow store in a temporary folder (artifacts beside it)."""
    root: Path = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture(scope="session")
def client(store: str) -> MlflowClient:
    from tradewind.registry.store import make_client  # MLflow is imported only by the tests that use it

    return make_client(store)
