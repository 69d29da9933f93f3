"""Loading and reloading by alias: new versions swap in whole, in-flight requests never fail."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tests.unit.serving.conftest import AUTH, Hammer, Registry, payload, server_of, wait_for
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.serving.models import LoadedModel, ModelHolder, RegistryModelLoader, ReloadError
from tradewind.training.model import TrainedModel

pytestmark = pytest.mark.unit


class _BrokenBackend:
    framework = "xgboost"

    @property
    def native(self) -> None:
        return None

    def predict_features(self, features: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("simulated model failure")

    def to_files(self):  # pragma: no cover - never saved
        raise NotImplementedError


class BrokenLoader(RegistryModelLoader):
    """The real registry loader, except that the versions in ``broken`` fail when they score
    (``load`` ones fail to load)."""

    def __init__(self, registry: Registry, *, broken: set[str] = frozenset(), load: set[str] = frozenset()) -> None:
        super().__init__(registry.name, registry.client.tracking_uri)
        self.broken, self.unloadable = broken, load
        self.loads: list[str] = []

    def load(self, version: str) -> LoadedModel:
        self.loads.append(version)
        if version in self.unloadable:
            raise OSError(f"simulated download failure of version {version}")
        loaded = super().load(version)
        if version not in self.broken:
            return loaded
        model = TrainedModel(spec=loaded.model.spec, backend=_BrokenBackend())  # type: ignore[arg-type]
        return LoadedModel(name=loaded.name, version=version, model=model, validator=loaded.validator)


def test_refresh_loads_by_alias_and_reuses_what_is_loaded(with_challenger: Registry):
    loader = BrokenLoader(with_challenger)
    holder = ModelHolder(loader)
    first = holder.refresh()
    assert first.versions() == {CHAMPION: "1", CHALLENGER: "2"}
    assert loader.loads == ["1", "2"]
    assert holder.refresh() is first  # nothing moved: nothing loaded, same deployment

    # Promotion: the challenger becomes champion, without loading it again.
    with_challenger.point(CHAMPION, "2")
    with_challenger.point(CHALLENGER, None)
    promoted = holder.refresh()
    assert promoted.versions() == {CHAMPION: "2", CHALLENGER: None}
    assert promoted.champion is first.challenger
    assert loader.loads == ["1", "2"]


def test_a_version_that_fails_to_load_never_serves(with_challenger: Registry):
    v3, v4 = with_challenger.add("a"), with_challenger.add("b")
    holder = ModelHolder(BrokenLoader(with_challenger, load={v3, v4}))
    holder.refresh()
    with_challenger.point(CHAMPION, v3)
    with_challenger.point(CHALLENGER, v4)
    with pytest.raises(ReloadError, match=f"version {v3} .* failed to load: simulated download failure"):
        holder.refresh()
    # The old champion keeps serving; a challenger that cannot load gets no traffic.
    assert holder.deployment.versions() == {CHAMPION: "1", CHALLENGER: None}
    assert holder.not_ready_reason() is None


def test_a_champion_that_cannot_load_leaves_the_server_not_ready_with_the_reason(registry: Registry):
    registry.point(CHAMPION, registry.add("a"))
    holder = ModelHolder(BrokenLoader(registry, load={"1"}))
    with pytest.raises(ReloadError):
        holder.refresh()
    assert "champion version 1" in holder.not_ready_reason()
    assert "simulated download failure" in holder.not_ready_reason()


def test_an_unreachable_registry_is_a_reason_not_a_crash(tmp_path):
    holder = ModelHolder(RegistryModelLoader("anything", f"sqlite:///{tmp_path}/not-a-dir/x.db"))
    (tmp_path / "not-a-dir").write_text("a file where the store's folder should be")
    with pytest.raises(ReloadError):
        holder.refresh()
    assert "cannot read the aliases of 'anything'" in holder.not_ready_reason()


def test_reload_swaps_champion_and_clears_challenger_while_requests_run(serve, with_challenger: Registry, raw_rows):
    v3 = with_challenger.add("b")
    client = serve()
    assert client.put("/admin/traffic", json={"challenger_percent": 50}, headers=AUTH).status_code == 200
    body = payload(raw_rows.head(20))
    with Hammer(client, body) as hammer:
        wait_for(lambda: len(hammer.outcomes) >= 30, what="requests before the swap")
        with_challenger.point(CHAMPION, v3)
        with_challenger.point(CHALLENGER, None)
        reload_started = time.monotonic()
        reload = client.post("/admin/reload", headers=AUTH)
        swapped_at = time.monotonic()
        wait_for(lambda: sum(o[0] > swapped_at for o in hammer.outcomes) >= 30, what="requests after the swap")
    assert reload.status_code == 200
    assert reload.json() == {"challenger_percent": 0, "shadow": False, "champion": {"version": v3}, "challenger": None}
    statuses = {o[2] for o in hammer.outcomes}
    assert statuses == {200}, [o[3] for o in hammer.outcomes if o[2] != 200][:3]
    # Requests that overlap the reload may see either deployment; the others see exactly one.
    before = {(o[3]["variant"], o[3]["model_version"]) for o in hammer.outcomes if o[1] < reload_started}
    after = {(o[3]["variant"], o[3]["model_version"]) for o in hammer.outcomes if o[0] > swapped_at}
    assert before == {(CHAMPION, "1"), (CHALLENGER, "2")}
    assert after == {(CHAMPION, v3)}


def test_the_background_thread_follows_the_aliases(serve, champion_only: Registry, raw_rows):
    v2 = champion_only.add("b")
    client = serve(reload_interval_s=0.2)
    champion_only.point(CHALLENGER, v2)
    wait_for(lambda: client.get("/readyz").json()["challenger"] == v2, what="the challenger to load")
    assert client.put("/admin/traffic", json={"challenger_percent": 100}, headers=AUTH).status_code == 200
    assert client.post("/predict", json=payload(raw_rows.head(2))).json()["model_version"] == v2

    champion_only.point(CHALLENGER, None)
    wait_for(lambda: client.get("/readyz").json()["challenger"] is None, what="the challenger to unload")
    assert server_of(client).router.split.challenger_percent == 0
    answer = client.post("/predict", json=payload(raw_rows.head(2))).json()
    assert (answer["variant"], answer["model_version"]) == (CHAMPION, "1")


def test_a_configured_split_without_a_challenger_falls_back_to_zero(serve, champion_only: Registry):
    client = serve(challenger_percent=30)
    assert client.get("/admin/traffic", headers=AUTH).json()["challenger_percent"] == 0


def test_a_configured_split_applies_to_a_loaded_challenger(serve, with_challenger: Registry):
    client = serve(challenger_percent=30, shadow=True)
    state = client.get("/admin/traffic", headers=AUTH).json()
    assert (state["challenger_percent"], state["shadow"]) == (30, True)
