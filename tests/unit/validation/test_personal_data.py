"""Validation reports never carry a pii column's values: hashed (pii: hash) or withheld (pii: drop).

Each case lands a batch whose failing values are secrets in a column the spec marks, validates it,
and looks for the secret in the outcome's message, the log, the result JSON and the Data Docs page.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from upath import UPath

from tests.unit.helpers import DAY, inbox_dir, local
from tradewind.data.ingest import ingest_partition
from tradewind.data.pii import PII_KEY_ENV, hash_value
from tradewind.data.spec import DatasetSpec, load_spec
from tradewind.data.synthetic import generate_day
from tradewind.validation.personal import HASHED, NO_KEY, TEXT_WITHHELD, UNPLACED, WITHHELD
from tradewind.validation.runner import ValidationOutcome, error_failure, validate_partition

pytestmark = pytest.mark.unit

KEY = "validation-test-key"
SECRET_ID = "secret-id-7731"
SECRET_CATEGORY = "secret-category-4402"
MARKS = {"customer_id": {"pii": "hash"}, "merchant_category": {"pii": "drop"}}


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    frame = generate_day(DAY, rows_per_day=1500)
    return frame.astype({"merchant_category": str, "country": str, "device": str})


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv(PII_KEY_ENV, KEY)
    return KEY.encode()


def _spec(files_spec: Callable[..., DatasetSpec], fmt: str, marks: dict | None = MARKS) -> DatasetSpec:
    spec = files_spec(fmt)
    if marks is None:
        return spec
    path = Path(spec.source.files.uri.removeprefix("file://")).parents[3] / "specs" / f"{spec.name}.yaml"
    return load_spec(path, overrides={"columns": marks})


def _with_secrets(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["customer_id"] = out["customer_id"].astype(str)  # Parquet: a text column; CSV: one value not an integer
    out.loc[0, "customer_id"] = SECRET_ID  # the first value the type expectation samples
    out.loc[5, "merchant_category"] = SECRET_CATEGORY  # not in the spec's categories
    return out


def _validate(spec: DatasetSpec, files: dict[str, bytes], tmp_path) -> ValidationOutcome:
    inbox = inbox_dir(spec, DAY)
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(spec, root, DAY)
    return validate_partition(spec, root, DAY)


def _reports(outcome: ValidationOutcome) -> dict[str, str]:
    folder = local(outcome.quarantine_uri)
    return {n: (folder / n).read_text(encoding="utf-8") for n in ("validation_result.json", "data_docs.html")}


def _everything(outcome: ValidationOutcome, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    return {"message": outcome.message(), "log": caplog.text, **_reports(outcome)}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_suite_failures_on_pii_columns_show_hashes_or_nothing(fmt, clean, files_spec, key, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    spec = _spec(files_spec, fmt)
    frame = _with_secrets(clean)
    data = frame.to_csv(index=False).encode() if fmt == "csv" else _parquet(frame)
    outcome = _validate(spec, {f"batch.{fmt}": data}, tmp_path)

    assert not outcome.success
    failed = {(f.expectation, f.column): f for f in outcome.failures}
    assert ("expect_column_values_to_be_in_type_list", "customer_id") in failed
    assert ("expect_column_values_to_be_in_set", "merchant_category") in failed
    hashed = hash_value(SECRET_ID, key)
    assert hashed in failed["expect_column_values_to_be_in_type_list", "customer_id"].sample
    assert failed["expect_column_values_to_be_in_set", "merchant_category"].sample == []
    message = outcome.message()
    assert hashed in message
    assert HASHED in message
    assert WITHHELD in message
    for where, text in _everything(outcome, caplog).items():
        assert SECRET_ID not in text, where
        assert SECRET_CATEGORY not in text, where
    assert hashed in _reports(outcome)["validation_result.json"]


def test_the_same_batch_unmarked_shows_its_values(clean, files_spec, tmp_path):
    """The control: without the marks the report quotes the values (what the marks take away)."""
    spec = _spec(files_spec, "csv", marks=None)
    outcome = _validate(spec, {"batch.csv": _with_secrets(clean).to_csv(index=False).encode()}, tmp_path)
    assert SECRET_ID in outcome.message()
    assert SECRET_CATEGORY in outcome.message()


def test_a_hashed_column_without_the_key_is_withheld(clean, files_spec, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(PII_KEY_ENV, raising=False)
    spec = _spec(files_spec, "csv")
    outcome = _validate(spec, {"batch.csv": _with_secrets(clean).to_csv(index=False).encode()}, tmp_path)
    assert not outcome.success
    assert NO_KEY in outcome.message()
    for where, text in _everything(outcome, caplog).items():
        assert SECRET_ID not in text, where


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_checks_before_the_suite_hash_or_withhold_their_samples(fmt, clean, files_spec, key, tmp_path, caplog):
    """Control characters in both marked columns: refused before the suite, samples hashed or withheld."""
    caplog.set_level(logging.INFO)
    spec = _spec(files_spec, fmt)
    frame = clean.copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame.loc[2, "customer_id"] = f"{SECRET_ID}\x00"
    frame.loc[4, "merchant_category"] = f"{SECRET_CATEGORY}\x00"
    if fmt == "parquet":  # Parquet text columns are checked; CSV checks every field
        frame["customer_id"] = frame["customer_id"].astype(object)
    data = frame.to_csv(index=False).encode() if fmt == "csv" else _parquet(frame)
    outcome = _validate(spec, {f"batch.{fmt}": data}, tmp_path)

    failed = {(f.expectation, f.column): f for f in outcome.failures}
    assert failed["control_characters", "customer_id"].sample == [hash_value(f"{SECRET_ID}\x00", key)]
    assert failed["control_characters", "merchant_category"].sample == []
    assert WITHHELD in failed["control_characters", "merchant_category"].notes
    for where, text in _everything(outcome, caplog).items():
        assert SECRET_ID not in text, where
        assert SECRET_CATEGORY not in text, where


def test_undecodable_text_in_a_pii_column_is_not_quoted(clean, files_spec, key, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    spec = _spec(files_spec, "csv")
    text = clean.to_csv(index=False).encode()
    first = clean["merchant_category"].iloc[0].encode()
    data = text.replace(b"," + first + b",", b"," + SECRET_CATEGORY.encode() + b"\xe9,", 1)
    outcome = _validate(spec, {"batch.csv": data}, tmp_path)

    failure = outcome.failures[0]
    assert (failure.expectation, failure.column, failure.sample) == ("readable", "merchant_category", [])
    for where, text_ in _everything(outcome, caplog).items():
        assert SECRET_CATEGORY not in text_, where


def test_undecodable_text_quotes_its_field_only(clean, files_spec, tmp_path):
    """Not the whole line: the neighbours of the bad field are other columns' values."""
    spec = _spec(files_spec, "csv", marks=None)
    first = clean["merchant_category"].iloc[0].encode()
    data = clean.to_csv(index=False).encode().replace(b"," + first + b",", b",caf\xe9,", 1)
    outcome = _validate(spec, {"batch.csv": data}, tmp_path)
    assert outcome.failures[0].sample == ["b'caf\\xe9'"]
    assert str(clean["transaction_id"].iloc[0]) not in outcome.failures[0].line()


def test_an_error_of_a_pii_spec_keeps_its_type_and_place_not_its_text(caplog):
    try:
        float(SECRET_ID)
    except ValueError as err:
        failure = error_failure(err, "reading the batch", private=True)
    assert failure.detail == f"ValueError: {TEXT_WITHHELD}"
    assert "while reading the batch at test_personal_data.py:" in failure.notes
    assert SECRET_ID not in caplog.text
    assert SECRET_ID not in failure.line()


def test_a_sample_of_no_column_is_withheld_in_a_pii_spec(files_spec):
    from tradewind.validation.personal import Personal

    personal = Personal.of(_spec(files_spec, "csv"))
    assert personal.samples(None, [SECRET_ID]) == ([], UNPLACED)
    assert personal.samples("amount", [-1.0]) == ([-1.0], "")


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
