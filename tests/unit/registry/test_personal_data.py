"""What a promotion keeps in MLflow holds no raw value of a pii column: hashed (pii: hash) or left out.

A model is trained on rows with distinctive ids (the key, ``pii: hash``), e-mail addresses (a text
column, ``pii: drop``) and a segment marked ``pii: hash``, promoted into a real SQLite MLflow store, and
every byte the store holds (database and artifacts: the model, its input example and signature, the
dataset record, metrics, params, tags) is searched for those values.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.helpers import SPEC_PATH
from tradewind.data import synthetic
from tradewind.data.pii import PII_KEY_ENV, hash_value
from tradewind.data.spec import DatasetSpec, load_spec
from tradewind.data.split import time_split
from tradewind.registry.gate import load_gate_config
from tradewind.registry.promotion import promote_candidate
from tradewind.registry.pyfunc import example_without_pii
from tradewind.registry.store import make_client
from tradewind.training.trainer import train

pytestmark = pytest.mark.unit

KEY = "registry-test-key"
ID_BASE = 987_654_321_000  # customer ids no other number in the store looks like
MAIL = "@pii-test.example.org"
PARAMS = {"num_boost_round": 20, "max_depth": 3, "scale_pos_weight": 1}


@pytest.fixture
def spec() -> DatasetSpec:
    return load_spec(
        SPEC_PATH,
        overrides={
            "columns": {
                "customer_id": {"pii": "hash"},
                "country": {"pii": "hash"},  # the segment: per-segment metric names carry its values
                "email": {"type": "string", "nullable": True, "pii": "drop"},
            }
        },
    )


@pytest.fixture
def rows() -> pd.DataFrame:
    days = [synthetic.generate_day(dt.date(2026, 1, d), rows_per_day=2500) for d in (5, 6, 7)]
    frame = pd.concat(days, ignore_index=True)
    frame["customer_id"] = ID_BASE + frame.index
    frame["email"] = [f"user{i}{MAIL}" for i in frame.index]
    return frame


def _store_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_promotion_keeps_no_raw_pii_value_in_mlflow(spec, rows, tmp_path, monkeypatch):
    monkeypatch.setenv(PII_KEY_ENV, KEY)
    store = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    client = make_client(store)
    result = train(spec, rows, "xgboost", PARAMS, seed=7, data_hashes={"2026-01-05": "h"})
    model_dir = tmp_path / "model"
    result.model.save(str(model_dir))
    train_rows, holdout = time_split(rows, spec, 0.2)

    outcome = promote_candidate(
        client,
        store,
        model_name="pii-model",
        experiment="pii-tests",
        spec=spec,
        model_dir=str(model_dir),
        summary=result.summary(),
        holdout=holdout,
        training_rows=len(train_rows),
        config=load_gate_config(),
    )

    held = _store_bytes(tmp_path / "mlflow")
    assert MAIL.encode() not in held
    assert str(ID_BASE)[:9].encode() not in held  # no id, nor its first digits
    # The segment metrics are there, named by the segment's hashed values.
    us = hash_value("US", KEY.encode())
    assert f"segment.{us}.pr_auc" in client.get_run(outcome.run_id).data.metrics
    assert "segment.US.pr_auc" not in client.get_run(outcome.run_id).data.metrics
    assert us in outcome.candidate_metrics["segments"]
    # The input example keeps every column, typed as before, pii ones holding a placeholder.
    example_file = next((tmp_path / "mlflow").rglob("input_example.json"))
    example = json.loads(example_file.read_text())
    columns = example["columns"]
    records = [dict(zip(columns, row, strict=True)) for row in example["data"]]
    assert {r["customer_id"] for r in records} == {0}
    assert {r["email"] for r in records} == {"pii"}
    assert {r["country"] for r in records} == {"pii"}
    assert records[0]["amount"] == pytest.approx(float(holdout["amount"].iloc[0]))  # features as they were


def test_the_example_is_untouched_without_pii_columns(shipped_spec):
    frame = pd.DataFrame({"customer_id": [5], "amount": [1.5]})
    assert example_without_pii(frame, shipped_spec) is frame


def test_placeholders_keep_each_column_type(spec):
    frame = pd.DataFrame({"customer_id": [ID_BASE], "email": ["a" + MAIL], "country": ["US"], "amount": [2.0]}).astype(
        {"customer_id": "int64"}
    )
    out = example_without_pii(frame, spec)
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()
    assert out.iloc[0].tolist() == [0, "pii", "pii", 2.0]
    assert frame.iloc[0, 0] == ID_BASE  # the caller's frame is left as it was
