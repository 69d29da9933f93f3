"""Columns a spec marks pii are hashed with a key or dropped wherever records are kept beyond the lake."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.unit.helpers import SPEC_PATH
from tradewind.config import ConfigError
from tradewind.data.pii import PII_KEY_ENV, PiiKeyMissing, hash_value, pii_columns, redact, redact_table
from tradewind.data.spec import load_spec
from tradewind.data.synthetic import generate_day
from tradewind.monitoring.reference import build_reference

pytestmark = pytest.mark.unit

KEY = b"k1"


@pytest.fixture
def spec():
    return load_spec(SPEC_PATH, overrides={"columns": {"customer_id": {"pii": True}, "device": {"pii": "drop"}}})


@pytest.fixture
def frame():
    return pd.DataFrame({"customer_id": [17, 17, 42, None], "device": ["atm"] * 4, "amount": [1.0, 2.0, 3.0, 4.0]})


def test_the_flag_reads_true_as_hash(spec, shipped_spec):
    assert pii_columns(spec) == {"customer_id": "hash", "device": "drop"}
    assert pii_columns(shipped_spec) == {}
    assert spec.fingerprint != shipped_spec.fingerprint  # marking a column is a change of the data contract


def test_a_bad_flag_names_the_column():
    with pytest.raises(ConfigError, match=r"columns\.device\.pii"):
        load_spec(SPEC_PATH, overrides={"columns": {"device": {"pii": "mask"}}})


def test_redact_hashes_with_the_key_and_drops(spec, frame):
    out = redact(frame, spec, KEY)
    assert list(out.columns) == ["customer_id", "amount"]
    hashed = out["customer_id"].tolist()
    assert hashed[0] == hashed[1] != hashed[2]  # equal values, equal hashes: still countable and joinable
    assert hashed[3] is None
    assert hashed[0] == hash_value(17, KEY)  # 17.0 (a float column with nulls) hashes as 17 does
    assert len(hashed[0]) == 32
    assert redact(frame, spec, b"k2")["customer_id"].tolist()[0] != hashed[0]  # another key, another hash
    assert out["amount"].tolist() == frame["amount"].tolist()
    assert frame["customer_id"].tolist()[:3] == [17, 17, 42]  # the input is left as it was


def test_redact_table_matches_redact(spec, frame):
    table = redact_table(pa.Table.from_pandas(frame, preserve_index=False), spec, KEY)
    assert table.column_names == ["customer_id", "amount"]
    assert table.column("customer_id").to_pylist() == redact(frame, spec, KEY)["customer_id"].tolist()


def test_hashing_without_a_key_is_refused(spec, frame, monkeypatch):
    monkeypatch.delenv(PII_KEY_ENV, raising=False)
    with pytest.raises(PiiKeyMissing, match=f"{PII_KEY_ENV} is not set"):
        redact(frame, spec)
    monkeypatch.setenv(PII_KEY_ENV, "k1")
    assert redact(frame, spec)["customer_id"].tolist()[0] == hash_value(17, KEY)


def test_the_reference_stored_with_a_model_carries_no_pii(monkeypatch):
    monkeypatch.setenv(PII_KEY_ENV, "k1")
    spec = load_spec(SPEC_PATH, overrides={"columns": {"country": {"pii": True}, "device": {"pii": "drop"}}})
    rows = generate_day(dt.date(2026, 1, 5), rows_per_day=300)
    reference = build_reference(rows, spec, scores=np.full(len(rows), 0.5))
    assert "device" not in reference.columns
    assert set(reference["country"]) <= {hash_value(v, KEY) for v in rows["country"]}
    assert not set(rows["country"].astype(str)) & set(reference["country"])
    assert reference["amount"].isin(rows["amount"]).all()


def test_the_drift_check_never_compares_pii_and_its_report_names_why(monkeypatch):
    from tradewind.monitoring.drift import PII_NOTE, check_drift

    monkeypatch.setenv(PII_KEY_ENV, "k1")
    spec = load_spec(SPEC_PATH, overrides={"columns": {"country": {"pii": True}, "device": {"pii": "drop"}}})
    rows = generate_day(dt.date(2026, 1, 5), rows_per_day=2000)
    reference = build_reference(rows, spec)
    current = redact(generate_day(dt.date(2026, 1, 6), rows_per_day=2000), spec)
    result = check_drift(reference, current, spec)
    by_name = {f.column: f for f in result.features}
    assert not by_name["country"].checked
    assert by_name["country"].note == PII_NOTE
    assert not by_name["device"].checked
    assert by_name["amount"].checked
    assert "US" not in result.to_json()  # no country value, hashed or not, reaches the report
