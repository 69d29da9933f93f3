"""Evaluate and promote, end to end on a real MLflow store: first champion, challenger, rejection, retry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.unit.training.task_data import task_frame, task_spec
from tradewind.data import synthetic
from tradewind.data.spec import DatasetSpec
from tradewind.data.split import time_split
from tradewind.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    UNCHECKED,
    alias_history,
    check_consistency,
    current,
    move_alias,
    set_challenger,
)
from tradewind.registry.gate import load_gate_config
from tradewind.registry.promotion import PROMOTION_TAG, CandidateError, promote_candidate
from tradewind.registry.versions import read_decision
from tradewind.training.trainer import train

pytestmark = pytest.mark.unit

# Unweighted classes keep scores calibrated, which the shipped gate requires (ECE <= 0.05).
PARAMS = {"num_boost_round": 60, "max_depth": 4, "scale_pos_weight": 1}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    days = [synthetic.generate_day(dt.date(2026, 1, d), rows_per_day=5000) for d in (5, 6, 7, 8)]
    return pd.concat(days, ignore_index=True)


def _candidate(spec: DatasetSpec, rows: pd.DataFrame, out: Path, *, shuffle: bool = False, seed: int = 7) -> dict:
    frame = rows.copy()
    if shuffle:  # a model that learned nothing: labels permuted
        frame[spec.label] = np.random.default_rng(seed).permutation(frame[spec.label].to_numpy())
    result = train(spec, frame, "xgboost", PARAMS, seed=seed, data_hashes={"2026-01-05": f"hash-{shuffle}-{seed}"})
    result.model.save(str(out))
    return result.summary()


def _promote(client, store, spec, rows, model_dir, summary, name):
    train_rows, holdout = time_split(rows, spec, 0.2)
    return promote_candidate(
        client,
        store,
        model_name=name,
        experiment="promotion-tests",
        spec=spec,
        model_dir=str(model_dir),
        summary=summary,
        holdout=holdout,
        training_rows=len(train_rows),
        config=load_gate_config(),
        airflow_context={"dag_id": "train_transactions", "run_id": "manual__1", "try_number": 1},
        triggered_by="validated/transactions",
    )


def test_first_model_becomes_champion_then_challengers_and_rejects_follow(
    rows: pd.DataFrame, shipped_spec: DatasetSpec, client: MlflowClient, store: str, tmp_path: Path
) -> None:
    name = "fraud-promotion"
    first_dir = tmp_path / "first"
    first = _promote(client, store, shipped_spec, rows, first_dir, _candidate(shipped_spec, rows, first_dir), name)
    assert first.decision.action == "champion", first.decision.reasons
    assert current(client, name, CHAMPION) == first.version
    assert read_decision(client, name, first.version)["action"] == "champion"

    # A retry of the same run reuses it and changes nothing.
    again = _promote(client, store, shipped_spec, rows, first_dir, _candidate(shipped_spec, rows, first_dir), name)
    assert again.run_reused
    assert again.version == first.version
    assert current(client, name, CHALLENGER) is None

    # A model that learned nothing is rejected with reasons, and no alias moves.
    bad_dir = tmp_path / "bad"
    bad = _promote(
        client, store, shipped_spec, rows, bad_dir, _candidate(shipped_spec, rows, bad_dir, shuffle=True), name
    )
    assert bad.decision.action == "reject"
    assert any("pr_auc" in r for r in bad.decision.reasons), bad.decision.reasons
    assert current(client, name, CHAMPION) == first.version
    assert current(client, name, CHALLENGER) is None
    assert read_decision(client, name, bad.version)["passed"] is False

    # An equally good model (another seed) passes non-inferiority and becomes the challenger.
    good_dir = tmp_path / "good"
    good = _promote(
        client, store, shipped_spec, rows, good_dir, _candidate(shipped_spec, rows, good_dir, seed=11), name
    )
    assert good.decision.action == "challenger", good.decision.reasons
    assert good.champion_before == first.version
    assert good.champion_metrics is not None
    assert current(client, name, CHALLENGER) == good.version
    assert current(client, name, CHAMPION) == first.version
    moves = [(h["alias"], h["to"]) for h in alias_history(client, name)]
    assert moves == [(CHAMPION, first.version), (CHALLENGER, good.version)]


class _RivalPromotesFirst:
    """A client on which a concurrent promotion sets ``alias`` (default: a first ``champion``) the moment
    the gate's verdict is written (after this candidate read the aliases, before it moves one)."""

    def __init__(self, client: MlflowClient, name: str, rival: str, alias: str = CHAMPION) -> None:
        self._client, self._name, self._rival, self._alias, self._done = client, name, rival, alias, False

    def __getattr__(self, attr: str) -> object:
        if attr == "set_model_version_tag" and not self._done:
            self._done = True
            move_alias(
                self._client, self._name, self._alias, self._rival,
                reason="gate passed", triggered_by="train_transactions/manual__2", expected_current=UNCHECKED,
            )  # fmt: skip
        return getattr(self._client, attr)


def test_a_promotion_that_loses_the_race_for_first_champion_says_why_on_its_version(
    rows: pd.DataFrame,
    shipped_spec: DatasetSpec,
    client: MlflowClient,
    store: str,
    tmp_path: Path,
    make_versions: Callable[[str, int], list[str]],
) -> None:
    name = "fraud-race"
    (rival,) = make_versions(name, 1)
    racing = _RivalPromotesFirst(client, name, rival)
    out = _promote(racing, store, shipped_spec, rows, tmp_path, _candidate(shipped_spec, rows, tmp_path), name)
    assert out.decision.action == "lost"
    assert current(client, name, CHAMPION) == rival  # the winner keeps it
    assert current(client, name, CHALLENGER) is None
    note = client.get_model_version(name, out.version).tags[PROMOTION_TAG]
    assert note.startswith(f"lost: 'champion' was set to version {rival} by train_transactions/manual__2 at ")
    assert "while this version was judged against no champion" in note
    assert out.to_dict()["reasons"] == [note.removeprefix("lost: ")]
    assert check_consistency(client, name) == []


def test_a_challenger_set_while_the_gate_scored_is_not_replaced_unseen(
    rows: pd.DataFrame,
    shipped_spec: DatasetSpec,
    client: MlflowClient,
    store: str,
    tmp_path: Path,
    make_versions: Callable[[str, int], list[str]],
) -> None:
    name = "fraud-challenger-race"
    first = _promote(
        client, store, shipped_spec, rows, tmp_path / "a", _candidate(shipped_spec, rows, tmp_path / "a"), name
    )
    older, rival = make_versions(name, 2)
    set_challenger(client, name, older, reason="gate passed", triggered_by="train_transactions/manual__0")
    summary = _candidate(shipped_spec, rows, tmp_path / "b", seed=11)  # passes against the first as champion

    racing = _RivalPromotesFirst(client, name, rival, alias=CHALLENGER)
    out = _promote(racing, store, shipped_spec, rows, tmp_path / "b", summary, name)
    assert out.decision.action == "lost"
    assert current(client, name, CHALLENGER) == rival  # the other promotion's challenger stays
    assert current(client, name, CHAMPION) == first.version
    note = client.get_model_version(name, out.version).tags[PROMOTION_TAG]
    assert note.startswith(f"lost: 'challenger' was set to version {rival} by train_transactions/manual__2 at ")
    assert f"after this version's promotion found version {older} there" in note
    assert out.to_dict()["reasons"] == [note.removeprefix("lost: ")]

    # Promoted again, it sees the rival and replaces it: a newer candidate taking an older challenger's place.
    again = _promote(client, store, shipped_spec, rows, tmp_path / "b", summary, name)
    assert (again.version, again.decision.action) == (out.version, "challenger")
    assert current(client, name, CHALLENGER) == out.version
    assert [(h["from"], h["to"]) for h in alias_history(client, name, CHALLENGER)] == [
        (None, older),
        (older, rival),
        (rival, out.version),
    ]
    assert client.get_model_version(name, out.version).tags[PROMOTION_TAG] == "challenger"
    assert check_consistency(client, name) == []


# Multiclass and regression candidates: small numpy data sets (tests/unit/training/task_data.py).
TASK_PARAMS: dict[str, dict] = {
    # Unweighted classes and enough rounds keep the class probabilities calibrated (top_label_ece <= 0.05).
    "multiclass": {"num_boost_round": 200, "max_depth": 3, "class_weight": "none"},
    "regression": {"num_boost_round": 200, "max_depth": 3},
}


def _task_promote(client, store, task: str, out: Path, name: str, *, seed: int = 7, shuffle: int = 0, **params):
    """Train a ``task`` model on the synthetic rows (``shuffle``: labels permuted with that seed, a model
    that learned nothing) and promote it under ``name`` with the shipped gate."""
    spec, rows = task_spec(task), task_frame(task)
    learned = rows.copy()
    if shuffle:
        learned[spec.label] = np.random.default_rng(shuffle).permutation(rows[spec.label].to_numpy())
    result = train(spec, learned, "xgboost", {**TASK_PARAMS[task], **params}, seed=seed, data_hashes={"d": str(out)})
    result.model.save(str(out))
    train_rows, holdout = time_split(rows, spec, 0.2)  # judged on the true labels
    return promote_candidate(
        client, store, model_name=name, experiment=f"promotion-{task}", spec=spec, model_dir=str(out),
        summary=result.summary(), holdout=holdout, training_rows=len(train_rows), config=load_gate_config(),
    )  # fmt: skip


def test_a_multiclass_candidate_is_judged_by_macro_f1_against_the_champion_on_the_same_rows(
    client: MlflowClient, store: str, tmp_path: Path
) -> None:
    name = "grades-promotion"
    guess = _task_promote(client, store, "multiclass", tmp_path / "guess", name, shuffle=1)
    assert guess.decision.action == "reject"
    assert any(r.startswith("macro_f1 = ") and "floors.macro_f1" in r for r in guess.decision.reasons), guess
    assert current(client, name, CHAMPION) is None

    first = _task_promote(client, store, "multiclass", tmp_path / "first", name)
    assert first.decision.action == "champion", first.decision.reasons
    assert set(first.candidate_metrics["class_counts"]) == {"low", "mid", "high"}
    assert any(
        n.startswith("rows in the smallest class") or "holdout_smallest_class" in n for n in first.decision.notes
    )
    assert any(n.startswith("top_label_ece = ") for n in first.decision.notes), first.decision.notes
    assert read_decision(client, name, first.version)["action"] == "champion"

    worse = _task_promote(client, store, "multiclass", tmp_path / "worse", name, shuffle=2)
    assert worse.decision.action == "reject"
    champion_f1 = worse.champion_metrics["macro_f1"]
    assert any(r.startswith("macro_f1 = ") and f"champion {champion_f1:.4g} - " in r for r in worse.decision.reasons)
    assert current(client, name, CHAMPION) == first.version

    other = _task_promote(client, store, "multiclass", tmp_path / "other", name, seed=11)
    assert other.decision.action == "challenger", other.decision.reasons
    # The champion was scored on the candidate's rows: the same figures as when it was promoted.
    assert other.champion_metrics["macro_f1"] == pytest.approx(first.candidate_metrics["macro_f1"], abs=1e-12)
    assert current(client, name, CHALLENGER) == other.version
    assert client.get_model_version(name, other.version).tags[PROMOTION_TAG] == "challenger"


def test_a_regression_candidate_must_beat_the_mean_and_a_lower_rmse_than_the_champions_wins(
    client: MlflowClient, store: str, tmp_path: Path
) -> None:
    name = "prices-promotion"
    guess = _task_promote(client, store, "regression", tmp_path / "guess", name, shuffle=1)
    assert guess.decision.action == "reject"
    assert any(r.startswith("rmse = ") and "baseline_rmse" in r for r in guess.decision.reasons), guess
    assert any("calibration not judged: task regression" in n for n in guess.decision.notes)

    weak = _task_promote(client, store, "regression", tmp_path / "weak", name, num_boost_round=15)
    assert weak.decision.action == "champion", weak.decision.reasons
    # The mean baseline is the candidate's training mean, as the trainer recorded it.
    trained_on, _ = time_split(task_frame("regression"), task_spec("regression"), 0.2)
    trained_mean = float(trained_on["price"].mean())
    assert weak.candidate_metrics["baseline_mean"] == pytest.approx(trained_mean)

    worse = _task_promote(client, store, "regression", tmp_path / "worse", name, shuffle=2)
    assert worse.decision.action == "reject"
    assert worse.candidate_metrics["rmse"] > worse.champion_metrics["rmse"]
    assert any(r.startswith("rmse = ") and "(1 + non_inferiority_margin" in r for r in worse.decision.reasons)
    # Both were measured against the same baseline: the candidate's training mean.
    assert worse.champion_metrics["baseline_rmse"] == worse.candidate_metrics["baseline_rmse"]

    strong = _task_promote(client, store, "regression", tmp_path / "strong", name)
    assert strong.decision.action == "challenger", strong.decision.reasons
    assert strong.candidate_metrics["rmse"] < strong.champion_metrics["rmse"]
    assert current(client, name, CHALLENGER) == strong.version
    assert current(client, name, CHAMPION) == weak.version
    assert read_decision(client, name, strong.version)["notes"][0].startswith("training_rows = ")


def test_a_regression_model_without_its_mean_baseline_is_refused_before_anything_is_logged(
    client: MlflowClient, store: str, tmp_path: Path
) -> None:
    spec, rows = task_spec("regression"), task_frame("regression", rows=1200)
    result = train(spec, rows, "xgboost", {"num_boost_round": 5}, seed=7)
    result.model.save(str(tmp_path))
    summary = result.summary()
    del summary["metrics"]["baseline_mean"]
    with pytest.raises(CandidateError, match=r"lack baseline_mean .* train it again"):
        promote_candidate(
            client, store, model_name="prices-no-baseline", experiment="promotion-no-baseline", spec=spec,
            model_dir=str(tmp_path), summary=summary, holdout=rows, training_rows=len(rows),
            config=load_gate_config(),
        )  # fmt: skip
    assert client.get_experiment_by_name("promotion-no-baseline") is None
