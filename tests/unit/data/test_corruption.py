"""Corruptions: each named one breaks a clean batch in the way its name says, and only that way."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from tests.unit.helpers import DAY
from tradewind.data.corruption import CORRUPTIONS, corrupt
from tradewind.data.synthetic import generate_day

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return generate_day(DAY, rows_per_day=2000)


def _wrong_types(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert out["amount"].dtype == object
    assert (out["amount"] == "n/a").mean() == pytest.approx(0.05, abs=0.01)
    assert pd.to_numeric(out["amount"], errors="coerce").isna().sum() == (out["amount"] == "n/a").sum()


def _missing_column(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert list(out.columns) == [c for c in clean.columns if c != "amount"]


def _extra_column(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert list(out.columns) == [*clean.columns, "unexpected_field"]


def _null_required(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert out["merchant_category"].isna().mean() == pytest.approx(0.05, abs=0.01)
    assert clean["merchant_category"].notna().all()


def _negative_amounts(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    negative = out["amount"] < 0
    assert negative.mean() == pytest.approx(0.02, abs=0.005)
    pd.testing.assert_series_equal(out.loc[~negative, "amount"], clean.loc[~negative, "amount"])


def _unknown_category(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert (out["merchant_category"] == "teleportation").mean() == pytest.approx(0.03, abs=0.01)


def _duplicate_ids(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert clean["transaction_id"].is_unique
    assert out["transaction_id"].duplicated().sum() >= 0.009 * len(out)


def _wrong_date(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert (out["event_time"].dt.date == DAY - pd.Timedelta(days=3)).all()


def _label_rate(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert clean["is_fraud"].mean() < 0.05
    assert out["is_fraud"].mean() > 0.3


def _empty(clean: pd.DataFrame, out: pd.DataFrame) -> None:
    assert len(out) == 0
    assert list(out.columns) == list(clean.columns)


CHECKS: dict[str, Callable[[pd.DataFrame, pd.DataFrame], None]] = {
    "wrong_types": _wrong_types,
    "missing_column": _missing_column,
    "extra_column": _extra_column,
    "null_required": _null_required,
    "negative_amounts": _negative_amounts,
    "unknown_category": _unknown_category,
    "duplicate_ids": _duplicate_ids,
    "wrong_date": _wrong_date,
    "label_rate": _label_rate,
    "empty": _empty,
}


def test_every_corruption_has_a_check():
    assert set(CHECKS) == set(CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_corruption_breaks_the_batch_as_named(name, clean, shipped_spec):
    before = clean.copy()
    out = corrupt(clean, shipped_spec, [name])
    pd.testing.assert_frame_equal(clean, before)  # the input is never changed in place
    CHECKS[name](clean, out)
    assert not out.equals(clean)


def test_corruptions_apply_in_order(clean, shipped_spec):
    out = corrupt(clean, shipped_spec, ["negative_amounts", "null_required"])
    assert (out["amount"] < 0).any()
    assert out["merchant_category"].isna().any()


def test_no_corruption_is_the_identity(clean, shipped_spec):
    pd.testing.assert_frame_equal(corrupt(clean, shipped_spec, []), clean)


def test_unknown_corruption_lists_the_known_names(clean, shipped_spec):
    with pytest.raises(ValueError, match="unknown corruption 'gremlins'") as err:
        corrupt(clean, shipped_spec, ["gremlins"])
    for name in CORRUPTIONS:
        assert name in str(err.value)
