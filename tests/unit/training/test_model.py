"""The model contract: a self-describing folder, identical predictions after a round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tradewind.data.spec import DatasetSpec
from tradewind.training.model import MODEL_MANIFEST, ModelLoadError, TrainedModel, load_model, read_model_manifest

pytestmark = pytest.mark.unit

FRAMEWORKS = {"xgboost": ("xgb_result", "model.ubj"), "torch": ("torch_result", "model.pt")}


@pytest.fixture(params=sorted(FRAMEWORKS))
def trained(request) -> tuple[TrainedModel, str]:
    fixture, file = FRAMEWORKS[request.param]
    return request.getfixturevalue(fixture).model, file


@pytest.fixture
def saved(trained, tmp_path) -> tuple[TrainedModel, TrainedModel, str]:
    model, file = trained
    folder = tmp_path / "model"
    model.save(str(folder))
    return model, load_model(str(folder)), file


def test_round_trip_gives_identical_predictions(saved, frame: pd.DataFrame):
    model, loaded, _ = saved
    rows = frame.tail(1000)
    assert np.array_equal(model.predict_proba(rows), loaded.predict_proba(rows))
    assert loaded.framework == model.framework
    assert loaded.spec_fingerprint == model.spec_fingerprint
    assert loaded.feature_set == model.feature_set


def test_single_row_scores_like_its_batch_row(saved, frame: pd.DataFrame):
    _, loaded, _ = saved
    rows = frame.tail(200)
    batch = loaded.predict_proba(rows)
    for i in (0, 57, 199):
        single = loaded.predict_proba(rows.iloc[[i]])
        # XGBoost is exact; a float32 network may differ in the last bit between batch sizes.
        np.testing.assert_allclose(single[0], batch[i], rtol=1e-6, atol=1e-9)
    record = rows.iloc[0].to_dict()  # one record as a mapping, as a server would receive it
    np.testing.assert_allclose(loaded.predict_proba(record)[0], batch[0], rtol=1e-6, atol=1e-9)


def test_folder_is_self_describing(saved, tmp_path, shipped_spec: DatasetSpec):
    model, _, file = saved
    manifest = read_model_manifest(str(tmp_path / "model"))
    assert manifest["framework"] == model.framework
    assert set(manifest["files"]) == {file}
    assert (tmp_path / "model" / file).is_file()
    assert manifest["spec"]["name"] == "transactions"
    assert manifest["spec"]["fingerprint"] == shipped_spec.fingerprint
    assert manifest["features"]["categorical"] == ["merchant_category", "country", "device"]
    assert manifest["metadata"]["metrics"]["pr_auc"] == model.metadata["metrics"]["pr_auc"]


def test_predictions_are_probabilities_for_odd_records(saved, frame: pd.DataFrame):
    _, loaded, _ = saved
    rows = frame.tail(3).copy()
    rows["merchant_category"] = ["crypto_exchange", None, "grocery"]  # unseen, missing, known
    rows["extra_column"] = 1  # ignored
    scores = loaded.predict_proba(rows)
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert loaded.predict_proba(frame.head(0)).shape == (0,)
    with pytest.raises(KeyError, match="amount"):
        loaded.predict_proba(rows.drop(columns=["amount"]))


def test_loading_checks_the_folder(saved, tmp_path):
    _, _, file = saved
    folder = tmp_path / "model"
    with pytest.raises(ModelLoadError, match=r"no tradewind_model\.json"):
        load_model(str(tmp_path / "nowhere"))
    data = (folder / file).read_bytes()
    (folder / file).write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # flip the last byte
    with pytest.raises(ModelLoadError, match="does not match its hash"):
        load_model(str(folder))
    manifest = json.loads((folder / MODEL_MANIFEST).read_text())
    manifest["framework"] = "sklearn"
    (folder / MODEL_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"unknown framework 'sklearn'.*torch, xgboost"):
        load_model(str(folder))
    manifest["format_version"] = 99
    (folder / MODEL_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="format_version 99"):
        load_model(str(folder))


def test_save_works_on_any_fsspec_path(xgb_result, frame: pd.DataFrame):
    folder = xgb_result.model.save("memory://tradewind-tests/models/xgb")
    loaded = load_model("memory://tradewind-tests/models/xgb")
    assert str(folder).endswith("models/xgb")
    assert np.array_equal(loaded.predict_proba(frame.tail(50)), xgb_result.model.predict_proba(frame.tail(50)))


def test_an_xgboost_model_loads_without_torch(xgb_result, tmp_path):
    xgb_result.model.save(str(tmp_path / "m"))
    code = (
        "import sys\n"
        "from tradewind.training.model import load_model\n"
        f"load_model({str(tmp_path / 'm')!r})\n"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
