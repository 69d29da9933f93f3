"""The training entry: one call for both frameworks, holdout metrics per segment, the run record."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tradewind.data.spec import DatasetSpec
from tradewind.data.validated import combined_hash
from tradewind.training.trainer import FRAMEWORKS, train

pytestmark = pytest.mark.unit


def test_unknown_framework_lists_the_known_ones(shipped_spec, frame):
    with pytest.raises(ValueError, match="unknown framework 'lightgbm' \\(known: xgboost, torch\\)"):
        train(shipped_spec, frame, "lightgbm", {})
    assert FRAMEWORKS == ("xgboost", "torch")


@pytest.mark.parametrize("fixture", ["xgb_result", "torch_result"])
def test_result_records_the_run(request, fixture, frame: pd.DataFrame, shipped_spec: DatasetSpec):
    result = request.getfixturevalue(fixture)
    assert result.rows_train + result.rows_holdout == len(frame)
    assert result.rows_holdout == pytest.approx(0.2 * len(frame), abs=5)
    assert result.metrics["rows"] == result.rows_holdout
    assert set(result.metrics["segments"]) <= set(shipped_spec.columns["country"].categories)
    assert len(result.metrics["segments"]) >= 8
    assert result.params["seed"] == 7
    assert result.params["holdout_fraction"] == 0.2
    assert result.elapsed_s > 0
    assert result.model.metadata["metrics"] == result.metrics
    json.dumps(result.summary())  # JSON-ready for the registry and the CLI


def test_data_hashes_are_recorded(xgb_result, torch_result):
    assert xgb_result.data_hashes == {"2026-01-05": "abc"}
    assert xgb_result.data_hash == combined_hash({"2026-01-05": "abc"})
    assert torch_result.data_hashes == {}
    assert torch_result.data_hash is None


def test_a_holdout_without_positives_is_refused(shipped_spec, frame):
    rows = frame.copy()
    late = pd.to_datetime(rows["event_time"]) >= pd.to_datetime(rows["event_time"]).quantile(0.8)
    rows.loc[late, "is_fraud"] = 0
    with pytest.raises(ValueError, match=r"holdout rows .* hold no positive 'is_fraud'"):
        train(shipped_spec, rows, "xgboost", {"num_boost_round": 2})


def test_checkpoint_dir_is_passed_to_the_framework(shipped_spec, frame, tmp_path):
    params = {"num_boost_round": 6, "checkpoint_every": 3, "nthread": 2, "max_depth": 3}
    first = train(shipped_spec, frame, "xgboost", params, checkpoint_dir=str(tmp_path))
    again = train(shipped_spec, frame, "xgboost", params, checkpoint_dir=str(tmp_path))
    assert first.training["rounds_trained"] == 6
    assert again.training["resumed_from"] == 6
    assert again.training["rounds_trained"] == 0
    assert again.metrics["pr_auc"] == first.metrics["pr_auc"]
