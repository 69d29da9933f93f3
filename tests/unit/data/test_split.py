"""The one split rule: recorded with the model, reproduced exactly, refused on other rows."""

from __future__ import annotations

import pandas as pd
import pytest

from tradewind.data.spec import DatasetSpec
from tradewind.data.split import SPLIT_SETS, SplitMismatch, SplitRecord, apply_split, split_by_time

pytestmark = pytest.mark.unit


def test_the_record_reproduces_the_same_sets_from_shuffled_rows(frame: pd.DataFrame, shipped_spec: DatasetSpec):
    split = split_by_time(frame, shipped_spec, 0.25)
    assert tuple(split.sets) == SPLIT_SETS
    record = SplitRecord.from_dict(split.record.to_dict())  # through JSON-ready form, as stored with a model
    again = apply_split(frame.sample(frac=1.0, random_state=3), shipped_spec, record)
    key = shipped_spec.id
    for name in SPLIT_SETS:  # the same rows in each set (rows that share a timestamp may come in another order)
        pd.testing.assert_frame_equal(
            again.sets[name].sort_values(key, ignore_index=True), split.sets[name].sort_values(key, ignore_index=True)
        )
    assert record.rows == {"train": len(split.train), "holdout": len(split.holdout)}
    assert split.train[shipped_spec.timestamp].max() < split.holdout[shipped_spec.timestamp].min()


def test_other_rows_are_refused_not_silently_judged(frame: pd.DataFrame, shipped_spec: DatasetSpec):
    record = split_by_time(frame, shipped_spec, 0.2).record
    with pytest.raises(SplitMismatch, match="the data changed since the model was trained"):
        apply_split(frame.iloc[10:], shipped_spec, record)


def test_a_malformed_record_names_what_is_missing():
    with pytest.raises(SplitMismatch, match="malformed"):
        SplitRecord.from_dict({"method": "time"})
