"""Fixtures of the unit tier: the shipped spec, a small spec, a ``files``-source spec factory, and one real
SQLite-backed MLflow store per session (``store``, ``client``; used by the registry and serving tests), a raw frame of a
few synthetic days (``frame``) and a small validated lake (``lake``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from upath import UPath

from tests.unit.helpers import DAY, SMALL_ROWS, SPEC_PATH, spec_dict, write_spec
from tradewind.data.ingest import ingest_partition
from tradewind.data.reader import normalise
from tradewind.data.spec import DatasetSpec, load_spec
from tradewind.data.synthetic import generate_day

if TYPE_CHECKING:
    from mlflow import MlflowClient

DAYS = 4
ROWS_PER_DAY = 3000
LAKE_DATES = [DAY + dt.timedelta(days=i) for i in range(3)]


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


@dataclass
class Lake:
    root: UPath
    dates: list[dt.date]
    lineage: dict[str, dict[str, object]]

    @property
    def date_arg(self) -> str:
        return ",".join(d.isoformat() for d in self.dates)


@pytest.fixture(scope="session")
def frame(shipped_spec: DatasetSpec) -> pd.DataFrame:
    """Raw rows of 4 days, typed as the validated-partition reader returns them."""
    options = shipped_spec.source.synthetic.model_dump() | {"rows_per_day": ROWS_PER_DAY}
    days = [generate_day(DAY + dt.timedelta(days=i), **options) for i in range(DAYS)]
    return normalise(pd.concat(days, ignore_index=True))


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory, small_spec: DatasetSpec) -> Lake:
    """Three small validated days (ingested and validated by the real pipeline code)."""
    root = UPath(f"file://{tmp_path_factory.mktemp('lake')}")
    lineage = {}
    for day in LAKE_DATES:
        raw = ingest_partition(small_spec, root, day)
        from tradewind.validation.runner import validate_partition  # GX: only for the tests that use it

        outcome = validate_partition(small_spec, root, day, raw_lineage=raw)
        assert outcome.success, outcome.message()
        lineage[day.isoformat()] = outcome.lineage
    return Lake(root=root, dates=LAKE_DATES, lineage=lineage)
