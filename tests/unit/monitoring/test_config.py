"""The ``drift:`` section of a dataset spec: defaults, resolution per type and column, and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.helpers import SPEC_PATH, spec_dict, write_spec
from tradewind.data.spec import SpecError, load_spec
from tradewind.monitoring.config import DriftConfig, drift_config

pytestmark = pytest.mark.unit


def _with_drift(tmp_path: Path, drift: Any) -> Path:
    data = spec_dict()
    data["drift"] = drift
    return write_spec(tmp_path, data)


def test_a_spec_without_the_section_gets_the_defaults(tmp_path):
    data = spec_dict()
    del data["drift"]
    spec = load_spec(write_spec(tmp_path, data))
    assert spec.drift is None
    config = drift_config(spec)
    assert config == DriftConfig()
    assert (config.drift_share, config.min_window_rows, config.max_rows) == (0.3, 500, 100_000)
    methods = {c.column: (c.method, c.threshold, c.kind) for c in config.checks(spec)}
    assert methods == {
        "amount": ("wasserstein", 0.1, "numerical"),
        "merchant_category": ("jensenshannon", 0.1, "categorical"),
        "country": ("jensenshannon", 0.1, "categorical"),
        "device": ("jensenshannon", 0.1, "categorical"),
        "card_present": ("jensenshannon", 0.1, "categorical"),
        "customer_age_days": ("wasserstein", 0.1, "numerical"),
        "customer_txn_count_30d": ("wasserstein", 0.1, "numerical"),
        "customer_avg_amount_30d": ("wasserstein", 0.1, "numerical"),
        "distance_from_home_km": ("wasserstein", 0.1, "numerical"),
    }


def test_the_shipped_section_spells_out_the_defaults_and_leaves_the_fingerprint_alone(tmp_path, shipped_spec):
    assert shipped_spec.drift == DriftConfig()
    data = spec_dict()
    del data["drift"]
    without = load_spec(write_spec(tmp_path, data))
    assert without.fingerprint == shipped_spec.fingerprint  # monitoring policy is not the data contract


def test_overrides_per_type_and_per_column(tmp_path):
    spec = load_spec(_with_drift(tmp_path, {
        "methods": {"numeric": {"threshold": 0.25}, "categorical": {"method": "chisquare"}},
        "columns": {"amount": {"method": "ks"}, "country": {"method": "psi", "threshold": 0.2}},
        "exclude": ["customer_age_days"],
    }))  # fmt: skip
    checks = {c.column: (c.method, c.threshold, c.test) for c in drift_config(spec).checks(spec)}
    assert checks["amount"] == ("ks", 0.05, "p_value")  # a new method brings its own default threshold
    assert checks["distance_from_home_km"] == ("wasserstein", 0.25, "distance")  # the type keeps its method
    assert checks["customer_txn_count_30d"] == ("wasserstein", 0.1, "distance")  # integer is its own type
    assert checks["merchant_category"] == ("chisquare", 0.05, "p_value")
    assert checks["country"] == ("psi", 0.2, "distance")
    assert checks["card_present"] == ("jensenshannon", 0.1, "distance")  # boolean is its own type
    assert "customer_age_days" not in checks
    assert drift_config(spec).unchecked(spec) == {"customer_age_days": "excluded in drift.exclude"}


@pytest.mark.parametrize(
    ("drift", "key", "words"),
    [
        ({"methods": {"categorical": {"method": "ks"}}}, "drift.methods.categorical", "does not apply to categorical"),
        ({"methods": {"numeric": {"method": "cosine"}}}, "drift.methods.numeric.method", "Input should be"),
        ({"columns": {"amount": {"method": "chisquare"}}}, "drift.columns", "'amount': method 'chisquare'"),
        ({"columns": {"transaction_id": {"method": "ks"}}}, "drift.columns", "'transaction_id' is not a feature"),
        ({"exclude": ["event_time"]}, "drift.exclude", "'event_time'"),
        ({"drift_share": 0}, "drift.drift_share", "greater than 0"),
        ({"min_window_rows": 1000, "max_rows": 100}, "drift", "'max_rows' (100) is below 'min_window_rows' (1000)"),
        ({"columns": {"amount": {"threshold": -1}}}, "drift.columns.amount.threshold", "greater than 0"),
        ({"prediction": {"method": "chisquare"}}, "drift.prediction.method", "does not apply to numeric"),
        ({"performance": {"max_drop": {"f1": 0.1}}}, "drift.performance.max_drop.f1.[key]", "'rmse' or 'mae'"),
        ({"performance": {"max_drop": {"pr_auc": 2}}}, "drift.performance.max_drop", "between 0 and 1"),
        ({"treshold": 0.1}, "drift.treshold", "Extra inputs are not permitted"),
        (["wasserstein"], "drift", "valid dictionary"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, drift, key, words):
    path = _with_drift(tmp_path, drift)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text = str(err.value)
    assert text.startswith(f"{path}: invalid dataset spec")
    line = next((ln for ln in text.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, text
    assert words in line


def test_other_specs_still_load(files_spec):
    # A spec built without any drift section (the files-source fixture) loads and gets the defaults.
    spec = files_spec("csv")
    assert drift_config(spec).max_rows == 100_000
    assert load_spec(SPEC_PATH).name == "transactions"


def test_the_prediction_threshold_follows_its_method_unless_given(tmp_path):
    def prediction(settings):
        return drift_config(load_spec(_with_drift(tmp_path, {"prediction": settings}))).prediction

    assert prediction({"method": "ks"}).resolved_threshold == 0.05  # a p-value test's own default
    assert prediction({"method": "wasserstein"}).resolved_threshold == 0.1
    assert prediction({"method": "ks", "threshold": 0.01}).resolved_threshold == 0.01


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"methods": {"numeric": {"method": "ks", "threshold": 5}}}, "drift.methods.numeric"),
        ({"columns": {"amount": {"method": "mannw", "threshold": 1}}}, "drift.columns"),
        # the override keeps its type's method, a p-value test here
        ({"methods": {"categorical": {"method": "chisquare"}}, "columns": {"country": {"threshold": 2}}}, "country"),
        ({"prediction": {"method": "ks", "threshold": 1.5}}, "drift.prediction"),
    ],
)
def test_a_p_value_threshold_of_one_or_more_is_refused_naming_the_key(tmp_path, section, key):
    with pytest.raises(SpecError, match=r"p-value bound") as err:
        load_spec(_with_drift(tmp_path, section))
    assert key in str(err.value)


def test_the_prediction_column_is_the_logged_score(tmp_path):
    with pytest.raises(SpecError, match=r"drift\.prediction\.column.*'score'"):
        load_spec(_with_drift(tmp_path, {"prediction": {"column": "amount"}}))


def test_the_drift_section_lives_with_the_spec_and_is_re_exported_here():
    from tradewind.data import drift_spec
    from tradewind.monitoring import config

    for name in config.__all__:
        assert getattr(config, name) is getattr(drift_spec, name), name
