"""The KServe target's sequence of InferenceService changes over a canary, promotion and roll back.

There is no cluster here: a small stand-in for the KServe controller keeps the object, applies
each merge patch the way the API server does (RFC 7386), and reports revisions and traffic in the
status as KServe does for ``canaryTrafficPercent``. Every state the target leaves the object in is
validated against the InferenceService CRD schema. The registry is a real SQLite one.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes.client.exceptions import ApiException

from tests.unit.k8s.test_inference import _FORMATS, SCHEMA_PATH, _strict
from tradewind.k8s.inference import apply_merge_patch
from tradewind.registry.aliases import CHALLENGER, CHAMPION, move_alias, promote_challenger_to_champion, set_challenger
from tradewind.registry.store import make_client
from tradewind.settings import ServingSettings
from tradewind_airflow.serving_targets import KServeTarget

pytestmark = pytest.mark.unit

MODEL = "transactions"


def uri(version: int) -> str:
    return f"s3://tradewind-mlflow/artifacts/{version}/model"


class KServeStandIn:
    """Enough of the KServe controller for traffic: a revision per model change, canary splits."""

    def __init__(self, validator: jsonschema.Draft7Validator) -> None:
        self.obj: dict[str, Any] | None = None
        self.validator = validator
        self.revisions: list[str] = []  # storageUri of each revision, in order
        self.rolled_out: int | None = None  # index of the last revision rolled out
        self.calls: list[tuple[str, Any]] = []

    def _check(self) -> None:
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in self.validator.iter_errors(self.obj)]
        assert not errors, errors

    def _reconcile(self) -> None:
        assert self.obj is not None
        predictor = self.obj["spec"]["predictor"]
        model_uri = predictor["model"]["storageUri"]
        if not self.revisions or self.revisions[-1] != model_uri:
            self.revisions.append(model_uri)
        latest = len(self.revisions) - 1
        percent = predictor.get("canaryTrafficPercent")
        if percent is None or self.rolled_out is None or self.rolled_out == latest:
            self.rolled_out, traffic = latest, [{"revisionName": f"r{latest}", "percent": 100, "latestRevision": True}]
        else:
            traffic = [
                {"revisionName": f"r{latest}", "percent": percent, "latestRevision": True},
                {
                    "revisionName": f"r{self.rolled_out}",
                    "percent": 100 - percent,
                    "latestRevision": False,
                    "tag": "prev",
                },
            ]
        generation = self.obj["metadata"]["generation"] = self.obj["metadata"].get("generation", 0) + 1
        self.obj["status"] = {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": "True"}],
            "components": {
                "predictor": {
                    "latestCreatedRevision": f"r{latest}",
                    "latestReadyRevision": f"r{latest}",
                    "latestRolledoutRevision": f"r{self.rolled_out}",
                    "traffic": traffic,
                }
            },
        }

    # CustomObjectsApi, as the target calls it
    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any:
        if self.obj is None:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.obj)

    def create_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, body: Any) -> Any:
        self.calls.append(("create", body["spec"]["predictor"]["model"]["storageUri"]))
        self.obj = copy.deepcopy(body)
        self._check()
        self._reconcile()
        return copy.deepcopy(self.obj)

    def patch_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        self.calls.append(("patch", json.loads(json.dumps(body))))
        status = self.obj.pop("status")
        self.obj = apply_merge_patch(self.obj, body)
        self.obj["status"] = status
        spec_only = {k: v for k, v in self.obj.items() if k != "status"}
        errors = [e.message for e in self.validator.iter_errors(spec_only)]
        assert not errors, errors
        self._reconcile()
        return copy.deepcopy(self.obj)

    def traffic(self) -> dict[str, int]:
        """Model URI -> its share of the traffic (revisions at 0% left out)."""
        assert self.obj is not None
        rows = self.obj["status"]["components"]["predictor"]["traffic"]
        return {self.revisions[int(t["revisionName"][1:])]: t["percent"] for t in rows if t["percent"]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[KServeTarget, KServeStandIn, Any]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    kserve = KServeStandIn(jsonschema.Draft7Validator(_strict(schema), format_checker=_FORMATS))
    client = make_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_registered_model(MODEL)
    for version in (1, 2):
        client.create_model_version(MODEL, source=uri(version))
    move_alias(client, MODEL, CHAMPION, "1", reason="test", triggered_by="test", expected_current=None)
    target = KServeTarget(MODEL, ServingSettings(target="kserve", namespace="ml"), timeout_s=5)
    target.__dict__["objects"] = kserve
    target.__dict__["registry"] = client
    return target, kserve, client


def test_a_canary_that_passes_ends_with_the_challenger_rolled_out(setup) -> None:
    target, kserve, client = setup
    target.sync(champion="1", challenger=None)  # first deployment creates the service on the champion
    assert kserve.calls == [("create", uri(1))]
    assert kserve.traffic() == {uri(1): 100}

    set_challenger(client, MODEL, "2", reason="test", triggered_by="test")
    for percent in (10, 50, 100):
        target.set_split(percent)
        assert kserve.traffic() == ({uri(2): 100} if percent == 100 else {uri(2): percent, uri(1): 100 - percent})
    assert kserve.calls[1][1]["spec"]["predictor"]["model"]["storageUri"] == uri(2)  # one new revision
    assert all("model" not in body["spec"]["predictor"] for _, body in kserve.calls[2:])  # then only percents

    promote_challenger_to_champion(client, MODEL, reason="test", triggered_by="test")
    target.sync(champion="2", challenger=None)
    assert kserve.obj["spec"]["predictor"].get("canaryTrafficPercent") is None
    assert kserve.traffic() == {uri(2): 100}


def test_a_rollback_sends_all_traffic_to_the_champion_and_names_it_again(setup) -> None:
    target, kserve, client = setup
    target.sync(champion="1", challenger=None)
    set_challenger(client, MODEL, "2", reason="test", triggered_by="test")
    target.set_split(10)
    target.set_split(0)
    assert kserve.obj["spec"]["predictor"]["model"]["storageUri"] == uri(1)  # a later promote cannot bring v2 back
    assert kserve.traffic() == {uri(1): 100}
    move_alias(client, MODEL, CHALLENGER, None, reason="test", triggered_by="test", expected_current="2")
    target.sync(champion="1", challenger=None)
    assert kserve.traffic() == {uri(1): 100}


def test_no_challenger_means_no_split(setup) -> None:
    target, _, _ = setup
    target.sync(champion="1", challenger=None)
    with pytest.raises(ValueError, match="no challenger to send 10%"):
        target.set_split(10)


def _env_of(obj: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in obj["spec"]["predictor"]["model"].get("env", [])}


def test_the_canary_reads_each_revision_from_prometheus_and_each_revision_knows_its_version(setup) -> None:
    target, kserve, client = setup
    target.serving = ServingSettings(target="kserve", namespace="ml", prometheus_url="http://prometheus:9090")
    target.sync(champion="1", challenger=None)
    assert _env_of(kserve.obj)["TRADEWIND_MODEL_VERSION"] == "1"
    assert _env_of(kserve.obj)["TRADEWIND_MODEL_NAME"] == MODEL
    source = target.metrics_source()
    assert dict(source.revisions) == {"champion": "r0"}  # no canary: the one revision is the champion
    assert dict(source.selector) == {"namespace": "ml"}

    set_challenger(client, MODEL, "2", reason="test", triggered_by="test")
    for percent in (10, 50, 100):
        target.set_split(percent)
        assert dict(target.metrics_source().revisions) == {"champion": "r0", "challenger": "r1"}, percent
    # The challenger's revision serves version 2 and says so; the env list was sent whole.
    assert _env_of(kserve.obj) == {
        "TRADEWIND_MODEL_NAME": MODEL,
        "TRADEWIND_DATASET": MODEL,
        "TRADEWIND_PROFILE": target.env["TRADEWIND_PROFILE"],
        "TRADEWIND_MODEL_VERSION": "2",
    }
    target.set_split(0)  # roll back: the spec names the champion again, with its version
    assert _env_of(kserve.obj)["TRADEWIND_MODEL_VERSION"] == "1"


def test_without_a_prometheus_url_the_kserve_canary_says_what_to_set(setup) -> None:
    target, _, _ = setup
    target.sync(champion="1", challenger=None)
    with pytest.raises(ValueError, match=r"serving.prometheus_url is not set"):
        target.metrics_source()
